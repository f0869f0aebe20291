# Turns a text file into a C++ header holding it as a raw string constant.
file(READ ${IN} CONTENT)
file(WRITE ${OUT} "#pragma once\n// Generated from ${IN}; do not edit.\ninline constexpr const char ${NAME}[] = R\"PROVIUM_EMBED(${CONTENT})PROVIUM_EMBED\";\n")
