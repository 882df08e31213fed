#include "volt/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "volt/core/error.h"

namespace volt::data {
namespace {

uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

uint64_t load_be64(const uint8_t* p) { return (uint64_t{load_be32(p)} << 32) | load_be32(p + 4); }

std::string hex_byte(uint8_t b) {
  constexpr char kDigits[] = "0123456789abcdef";
  return {'0', 'x', kDigits[b >> 4], kDigits[b & 15]};
}

struct IdxType {
  uint8_t code;
  const char* name;
  bool supported;
  DType dtype;
  std::size_t size;
};

// The IDX element types (LeCun's MNIST page); i8 and i16 have no volt dtype.
constexpr IdxType kIdxTypes[] = {
    {0x08, "u8", true, DType::u8, 1},   {0x09, "i8", false, DType::u8, 1},  {0x0B, "i16", false, DType::u8, 2},
    {0x0C, "i32", true, DType::i32, 4}, {0x0D, "f32", true, DType::f32, 4}, {0x0E, "f64", true, DType::f64, 8},
};

// Copies big-endian elements of `size` bytes into host order. memcpy rather than stores through
// uint32_t*/uint64_t* into what is float or double storage (strict aliasing); it compiles to
// bswap + store.
void copy_elements(const uint8_t* src, void* dst, std::size_t count, std::size_t size) {
  auto* out = static_cast<uint8_t*>(dst);
  if (size == 1) {
    if (count) std::memcpy(out, src, count);
  } else if (size == 4) {
    for (std::size_t i = 0; i < count; ++i) {
      const uint32_t v = load_be32(src + 4 * i);
      std::memcpy(out + 4 * i, &v, 4);
    }
  } else {
    for (std::size_t i = 0; i < count; ++i) {
      const uint64_t v = load_be64(src + 8 * i);
      std::memcpy(out + 8 * i, &v, 8);
    }
  }
}

// Ends an inflate stream however the function leaves.
struct Inflater {
  z_stream zs{};
  bool ready = false;
  ~Inflater() {
    if (ready) inflateEnd(&zs);
  }
};

}  // namespace

bool is_gzip(std::span<const uint8_t> bytes) { return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

Tensor parse_idx(std::span<const uint8_t> bytes, const std::string& name) {
  const std::size_t n = bytes.size();
  VOLT_CHECK(n >= 4, "IDX '", name, "': ", n, " bytes is too short for the 4-byte magic");
  const uint8_t* p = bytes.data();
  VOLT_CHECK(p[0] == 0 && p[1] == 0, "IDX '", name, "': bad magic ", hex_byte(p[0]), " ", hex_byte(p[1]), " ",
             hex_byte(p[2]), " ", hex_byte(p[3]), ", expected 0x00 0x00 <type> <ndims> (not an IDX file?)");

  const IdxType* type = nullptr;
  for (const IdxType& t : kIdxTypes)
    if (t.code == p[2]) type = &t;
  VOLT_CHECK(type != nullptr, "IDX '", name, "': unknown element type ", hex_byte(p[2]),
             " (known: 0x08 u8, 0x09 i8, 0x0b i16, 0x0c i32, 0x0d f32, 0x0e f64)");
  VOLT_CHECK(type->supported, "IDX '", name, "': element type ", hex_byte(p[2]), " (", type->name,
             ") is not supported: volt has no ", type->name, " dtype");

  const int ndims = p[3];
  VOLT_CHECK(ndims >= 1, "IDX '", name, "': header declares zero dimensions");
  VOLT_CHECK(ndims <= kMaxIdxDims, "IDX '", name, "': header declares ", ndims, " dimensions, more than the ",
             kMaxIdxDims, " volt accepts");
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(ndims);
  VOLT_CHECK(n >= header, "IDX '", name, "': header declares ", ndims, " dimensions, which need ", header,
             " header bytes, but the file has only ", n, " bytes");

  Shape shape(static_cast<std::size_t>(ndims));
  bool any_zero = false;
  for (int d = 0; d < ndims; ++d) {
    shape[d] = load_be32(p + 4 + 4 * d);
    any_zero = any_zero || shape[d] == 0;
  }
  // Sizes are < 2^32 each, but eight of them can overflow 64 bits.
  const std::size_t payload = n - header;
  uint64_t need = any_zero ? 0 : type->size;
  bool overflow = false;
  for (int d = 0; d < ndims && !any_zero; ++d)
    overflow = __builtin_mul_overflow(need, static_cast<uint64_t>(shape[d]), &need) || overflow;
  VOLT_CHECK(!overflow && need == payload, "IDX '", name, "': sizes ", shape_str(shape), " of ", type->name, " need ",
             overflow ? "more than 2^64" : std::to_string(need), " data bytes, but the file has ", payload,
             (overflow || need > payload) ? " (truncated?)" : " (trailing bytes?)");

  Tensor t = empty(shape, type->dtype);
  copy_elements(p + header, t.data_ptr(), payload / type->size, type->size);
  return t;
}

std::vector<uint8_t> gunzip(std::span<const uint8_t> bytes, const std::string& name, std::size_t max_bytes) {
  VOLT_CHECK(is_gzip(bytes), "gzip '", name, "': missing the gzip magic 0x1f 0x8b");
  VOLT_CHECK(bytes.size() <= std::numeric_limits<uInt>::max(), "gzip '", name, "': ", bytes.size(),
             " compressed bytes is more than zlib takes in one call");
  Inflater inf;
  // 16 + MAX_WBITS: gzip wrapper only, so a zlib or raw deflate stream is refused.
  VOLT_CHECK(inflateInit2(&inf.zs, 16 + MAX_WBITS) == Z_OK, "gzip '", name, "': inflateInit2 failed");
  inf.ready = true;
  inf.zs.next_in = const_cast<Bytef*>(bytes.data());  // zlib's API is not const-correct
  inf.zs.avail_in = static_cast<uInt>(bytes.size());

  // One byte past the limit, so that output of exactly max_bytes is told from more.
  const std::size_t limit = max_bytes == std::numeric_limits<std::size_t>::max() ? max_bytes : max_bytes + 1;
  std::vector<uint8_t> out(std::min(limit, std::max<std::size_t>(std::size_t{1} << 16, 4 * bytes.size())));
  std::size_t produced = 0;
  for (;;) {
    if (produced == out.size()) {
      VOLT_CHECK(out.size() < limit, "gzip '", name, "': decompresses to more than ", max_bytes, " bytes");
      out.resize(std::min(limit, 2 * out.size()));
    }
    const std::size_t room = std::min<std::size_t>(out.size() - produced, std::numeric_limits<uInt>::max());
    inf.zs.next_out = out.data() + produced;
    inf.zs.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&inf.zs, Z_NO_FLUSH);
    produced += room - inf.zs.avail_out;
    if (rc == Z_STREAM_END) {
      const std::span<const uint8_t> rest(inf.zs.next_in, inf.zs.avail_in);
      if (rest.empty()) break;
      VOLT_CHECK(is_gzip(rest), "gzip '", name, "': ", rest.size(), " trailing bytes after the gzip stream");
      VOLT_CHECK(inflateReset(&inf.zs) == Z_OK, "gzip '", name, "': inflateReset failed");
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && inf.zs.avail_out == 0) continue;  // needs more room, not more input
    VOLT_CHECK(rc != Z_BUF_ERROR, "gzip '", name, "': stream is truncated (ends after ", bytes.size(),
               " compressed bytes, before the end of the gzip member)");
    VOLT_FAIL("gzip '", name, "': corrupt stream (zlib: ", inf.zs.msg ? inf.zs.msg : zError(rc), ")");
  }
  VOLT_CHECK(produced <= max_bytes, "gzip '", name, "': decompresses to more than ", max_bytes, " bytes");
  out.resize(produced);
  out.shrink_to_fit();
  return out;
}

Tensor decode_idx(std::span<const uint8_t> bytes, const std::string& name) {
  if (!is_gzip(bytes)) return parse_idx(bytes, name);
  const std::vector<uint8_t> raw = gunzip(bytes, name);
  return parse_idx(raw, name);
}

Tensor read_idx(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  VOLT_CHECK(fs::exists(st), "IDX '", path, "': file not found");
  VOLT_CHECK(fs::is_regular_file(st), "IDX '", path, "': not a regular file");
  const auto size = fs::file_size(path, ec);
  VOLT_CHECK(!ec, "IDX '", path, "': cannot get the file size (", ec.message(), ")");
  VOLT_CHECK(size <= kMaxIdxBytes, "IDX '", path, "': ", size, " bytes is more than the ", kMaxIdxBytes, " volt reads");

  std::ifstream in(path, std::ios::binary);
  VOLT_CHECK(in.is_open(), "IDX '", path, "': cannot open (", std::strerror(errno), ")");
  std::vector<uint8_t> bytes(static_cast<std::size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  VOLT_CHECK(static_cast<std::size_t>(in.gcount()) == bytes.size(), "IDX '", path, "': read ", in.gcount(), " of ",
             bytes.size(), " bytes");
  return decode_idx(bytes, path);
}

}  // namespace volt::data
