#include "agent/io.hpp"

#include <fcntl.h>
#include <sys/stat.h>

namespace provium::agent {

std::string read_whole(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw OsError{errno, path};
  // Read straight into a buffer sized from fstat (growing only for files that grow or lie,
  // like /proc): large files are copied once, not once per reallocation.
  struct stat st {};
  size_t cap =
      (::fstat(fd.get(), &st) == 0 && st.st_size > 0) ? static_cast<size_t>(st.st_size) + 1 : 65536;
  std::string out(cap, '\0');
  size_t len = 0;
  while (true) {
    if (len == out.size()) out.resize(out.size() * 2);
    ssize_t n = ::read(fd.get(), out.data() + len, out.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw OsError{errno, path};
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  out.resize(len);
  return out;
}

}  // namespace provium::agent
