#!/bin/sh
# In a TSan build, in place of the Check unit tests (Makefile.am).
echo "SKIP: the Check unit tests are single-threaded, so TSan has nothing to check in them;"
echo "      the plain and ASan+UBSan builds run them"
exit 77
