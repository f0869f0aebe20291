#include "vmm/qemu/snapshot_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <vector>

namespace provium::vmm::qemu {

namespace {

constexpr std::string_view kMagic = "PROVIUM-SNAPSHOT-1\n";

void write_all(int fd, const char* p, std::size_t n, const std::string& what) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

std::uint64_t write_snapshot(int in_fd, const std::string& tmp_path, const nlohmann::json& model) {
  int out = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0)
    throw std::runtime_error(fmt::format("cannot create `{}`: {}", tmp_path, std::strerror(errno)));
  std::uint64_t total = 0;
  try {
    std::string header = std::string(kMagic) + model.dump() + "\n";
    write_all(out, header.data(), header.size(), tmp_path);
    total += header.size();
    std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
    // Level 1: the stream is mostly zero pages and code; higher levels cost seconds for little.
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, 1);
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag,
                           1);  // corruption is an error, not garbage RAM
    std::vector<char> in(ZSTD_CStreamInSize() * 4), obuf(ZSTD_CStreamOutSize());
    while (true) {
      ssize_t n = ::read(in_fd, in.data(), in.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        throw std::runtime_error(
            fmt::format("reading the migration stream: {}", std::strerror(errno)));
      bool last = n == 0;
      ZSTD_inBuffer ib{in.data(), static_cast<std::size_t>(n), 0};
      bool done = false;
      while (!done) {
        ZSTD_outBuffer ob{obuf.data(), obuf.size(), 0};
        std::size_t left =
            ZSTD_compressStream2(cctx.get(), &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(left))
          throw std::runtime_error(fmt::format("zstd: {}", ZSTD_getErrorName(left)));
        write_all(out, obuf.data(), ob.pos, tmp_path);
        total += ob.pos;
        done = last ? left == 0 : ib.pos == ib.size;
      }
      if (last) break;
    }
    if (::fsync(out) != 0)
      throw std::runtime_error(fmt::format("fsync `{}`: {}", tmp_path, std::strerror(errno)));
  } catch (...) {
    ::close(out);
    ::unlink(tmp_path.c_str());
    throw;
  }
  ::close(out);
  return total;
}

nlohmann::json read_snapshot_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(
        fmt::format("cannot read snapshot `{}`: {}", path, std::strerror(errno)));
  std::string magic(kMagic.size(), '\0');
  in.read(magic.data(), static_cast<std::streamsize>(magic.size()));
  if (magic != kMagic)
    throw std::runtime_error(fmt::format("`{}` is not a provium snapshot", path));
  std::string line;
  if (!std::getline(in, line))
    throw std::runtime_error(fmt::format("snapshot `{}` is truncated", path));
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object())
    throw std::runtime_error(fmt::format("snapshot `{}` has a corrupt header", path));
  return j;
}

void stream_snapshot(const std::string& path, int out_fd) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(
        fmt::format("cannot read snapshot `{}`: {}", path, std::strerror(errno)));
  std::string skip;
  std::getline(in, skip);  // magic
  std::getline(in, skip);  // model
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  // 1 MiB writes, not zstd's 128 KiB blocks: QEMU, which sleeps on an empty pipe, is woken
  // 8x less often (the pipe is widened to match, see qemu_machine.cpp).
  std::vector<char> ibuf(ZSTD_DStreamInSize()), obuf(1 << 20);
  ZSTD_outBuffer ob{obuf.data(), obuf.size(), 0};
  std::size_t pending = 1;  // ZSTD_decompressStream's "more input expected" hint; 0 = frame done
  auto flush = [&] {
    write_all(out_fd, obuf.data(), ob.pos, "feeding QEMU the snapshot");
    ob.pos = 0;
  };
  while (in) {
    in.read(ibuf.data(), static_cast<std::streamsize>(ibuf.size()));
    ZSTD_inBuffer ib{ibuf.data(), static_cast<std::size_t>(in.gcount()), 0};
    // Until zstd has taken all of this input and has no more output for it: a full output
    // buffer means it may hold more, unless the frame is done (pending 0; calling again then
    // would start waiting for another frame).
    while (ib.pos < ib.size || (ob.pos == ob.size && pending != 0)) {
      if (ob.pos == ob.size) flush();
      pending = ZSTD_decompressStream(dctx.get(), &ob, &ib);
      if (ZSTD_isError(pending))
        throw std::runtime_error(
            fmt::format("snapshot `{}` is corrupt: {}", path, ZSTD_getErrorName(pending)));
    }
  }
  flush();
  if (pending != 0) throw std::runtime_error(fmt::format("snapshot `{}` is truncated", path));
}

}  // namespace provium::vmm::qemu
