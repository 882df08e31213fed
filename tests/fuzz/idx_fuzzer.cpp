// libFuzzer target for the IDX reader: the input as a file (raw, or gzip when it starts with
// the gzip magic) through decode_idx, parse_idx and gunzip, and the same bytes gzip'd here in two
// members, so that the header and size checks are reached behind valid gzip framing too
// (mutated gzip seeds mostly stop at a CRC error).
//
// A volt::Error is the expected outcome for bad input; anything else is a finding: a crash, a
// sanitizer report, an exception of another type (std::terminate), and a broken invariant
// (abort with a message), e.g. the raw and the gzip path disagreeing on the same bytes.
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "volt/core/error.h"
#include "volt/data/idx.h"

namespace {

using Bytes = std::vector<uint8_t>;
using volt::data::decode_idx;
using volt::data::gunzip;
using volt::data::is_gzip;
using volt::data::parse_idx;

[[noreturn]] void broken(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "idx_fuzzer: invariant broken: %s %s\n", what, detail.c_str());
  std::abort();
}

// A decode's outcome: the tensor's dtype, shape and bytes, or the error's message.
struct Outcome {
  std::optional<std::string> error;
  volt::DType dtype{};
  volt::Shape shape;
  Bytes data;
  bool operator==(const Outcome&) const = default;
};

template <class F>
Outcome outcome_of(F&& decode) {
  Outcome o;
  try {
    const volt::Tensor t = decode();
    o.dtype = t.dtype();
    o.shape = t.shape();
    if (t.numel() != volt::numel(t.shape()) || !t.is_contiguous()) broken("a decoded tensor is not contiguous");
    const auto* p = static_cast<const uint8_t*>(t.data_ptr());
    o.data.assign(p, p + t.nbytes());
  } catch (const volt::Error& e) {
    o.error = e.what();  // compared whole, source location included: both paths share the checks
  }
  return o;
}

Bytes gzip_member(std::span<const uint8_t> bytes) {
  z_stream zs{};
  // A small window and little memory: the inputs are a few KB, and zlib's own allocations are
  // most of what a run of this target costs.
  if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + 9, 1, Z_DEFAULT_STRATEGY) != Z_OK) broken("deflateInit2");
  Bytes out(deflateBound(&zs, bytes.size()) + 32);
  zs.next_in = const_cast<Bytef*>(bytes.data());
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) broken("deflate");
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::span<const uint8_t> bytes(data, size);

  // The input as a file, through every entry point.
  const Outcome decoded = outcome_of([&] { return decode_idx(bytes, "fuzz"); });
  const Outcome parsed = outcome_of([&] { return parse_idx(bytes, "fuzz"); });
  if (!is_gzip(bytes) && decoded != parsed) broken("decode_idx and parse_idx disagree on raw bytes");
  if (is_gzip(bytes)) {
    std::optional<Bytes> raw;
    try {
      raw = gunzip(bytes, "fuzz");
    } catch (const volt::Error&) {
    }
    if (raw) {
      // gunzip's output is what decode_idx inflates: the same verdict, and the cap is exact.
      if (outcome_of([&] { return parse_idx(*raw, "fuzz"); }) != decoded)
        broken("decode_idx differs from parse_idx(gunzip(...))");
      if (gunzip(bytes, "fuzz", raw->size()) != *raw) broken("gunzip at an exact cap differs");
      if (!raw->empty()) {
        bool refused = false;
        try {
          gunzip(bytes, "fuzz", raw->size() - 1);
        } catch (const volt::Error&) {
          refused = true;
        }
        if (!refused) broken("gunzip ignored a cap one byte short");
      }
    } else if (!decoded.error) {
      broken("decode_idx accepted a stream that gunzip refuses");
    }
  }

  // The input as the decompressed content of a two-member gzip file: same verdict as raw.
  if (!is_gzip(bytes)) {
    const std::size_t cut = size / 3;
    Bytes gz = gzip_member(bytes.first(cut));
    const Bytes second = gzip_member(bytes.subspan(cut));
    gz.insert(gz.end(), second.begin(), second.end());
    if (outcome_of([&] { return decode_idx(gz, "fuzz"); }) != parsed)
      broken("the raw and the gzip path disagree on the same IDX bytes");
    // A cap below the content refuses it; at the content it does not matter.
    if (size > 0) {
      const Outcome capped = outcome_of([&] { return decode_idx(gz, "fuzz", size - 1); });
      if (!capped.error || capped.error->find("decompresses to more than") == std::string::npos)
        broken("decode_idx ignored a cap one byte short");
    }
    if (outcome_of([&] { return decode_idx(gz, "fuzz", size); }) != parsed) broken("decode_idx at an exact cap");
  }
  return 0;
}
