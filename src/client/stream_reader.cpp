#include "client/stream_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace provium::client {

using Clock = std::chrono::steady_clock;

std::optional<std::string> StreamReader::next(Ms timeout, const InterruptCheck& intr) {
  if (closed_) return std::nullopt;
  if (!pending_.empty()) return std::exchange(pending_, {});
  return ch_->next(timeout, intr);
}

std::string StreamReader::read_until(const std::string& needle, Ms timeout,
                                     const InterruptCheck& intr) {
  if (closed_) throw std::runtime_error("stream closed");
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (auto at = pending_.find(needle); at != std::string::npos) {
      std::string out = pending_.substr(0, at + needle.size());
      pending_.erase(0, at + needle.size());
      return out;
    }
    auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
    auto c = left.count() > 0 ? ch_->next(left, intr) : std::nullopt;
    if (!c) throw std::runtime_error(fmt::format("read_until timed out waiting for `{}`", needle));
    if (c->empty()) throw std::runtime_error("stream EOF");
    pending_ += *c;
  }
}

std::vector<std::string> StreamReader::drain(Ms timeout, const InterruptCheck& intr) {
  std::vector<std::string> out;
  if (!pending_.empty()) out.push_back(std::exchange(pending_, {}));
  auto deadline = Clock::now() + timeout;
  while (!closed_) {
    auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
    if (left.count() <= 0) break;
    // "until quiet": a short gap with no data ends the drain early.
    auto c = ch_->next(std::min(left, Ms(100)), intr);
    if (!c || c->empty()) break;
    out.push_back(std::move(*c));
  }
  return out;
}

void StreamReader::close() {
  if (closed_) return;
  closed_ = true;
  pending_.clear();
  if (ch_) ch_->close();
}

bool StreamReader::eof() const {
  return pending_.empty() && ch_ && ch_->ended() && ch_->end_reason() == "eof";
}

}  // namespace provium::client
