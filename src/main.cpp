// provium: thin entry point; everything lives in the provium_core library the tests link too.
#include <cstdio>
#include <exception>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  try {
    int code = provium::cli::main_entry(argc, argv);
    std::fflush(stdout);
    return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "provium: internal error: %s\n", e.what());
    return 2;
  }
}
