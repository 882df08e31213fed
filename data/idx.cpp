#include "volt/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>

#include "volt/core/error.h"

namespace volt::data {
namespace {

// The longest IDX header: the magic and kMaxIdxDims sizes.
constexpr std::size_t kMaxHeaderBytes = 4 + 4 * kMaxIdxDims;
// Scratch for the counting pass over a gzip stream and the chunk a file is read in: large enough
// that zlib's inflate_fast loop runs (it wants 258 bytes of room) and calls stay few, small
// enough to be the "small constant" beside the tensor.
constexpr std::size_t kChunkBytes = std::size_t{256} << 10;

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

// Turns big-endian elements of `size` bytes into host order where they lie, so that the data
// can land in the tensor's memory first (read or inflated straight there) and never needs a
// second buffer. memcpy rather than stores through uint32_t*/uint64_t* into what is float or
// double storage (strict aliasing); it compiles to bswap + store, and to nothing on a
// big-endian host.
void big_endian_to_host(uint8_t* p, std::size_t count, std::size_t size) {
  if (size == 4) {
    for (std::size_t i = 0; i < count; ++i) {
      const uint32_t v = load_be32(p + 4 * i);
      std::memcpy(p + 4 * i, &v, 4);
    }
  } else if (size == 8) {
    for (std::size_t i = 0; i < count; ++i) {
      const uint64_t v = load_be64(p + 8 * i);
      std::memcpy(p + 8 * i, &v, 8);
    }
  }
}

// What a checked header says: the tensor, and where its data lies in the (decompressed) file.
struct IdxLayout {
  const IdxType* type;
  Shape shape;
  std::size_t header;  // bytes before the data
  std::size_t payload;
};

// Checks the header in `head` (the first min(n, kMaxHeaderBytes) bytes of the file) against the
// file's whole length `n`; allocates nothing. The raw and the gzip path share it, so a file
// gets the same verdict, word for word, in either form.
IdxLayout check_header(std::span<const uint8_t> head, std::size_t n, const std::string& name) {
  VOLT_CHECK(n >= 4, "IDX '", name, "': ", n, " bytes is too short for the 4-byte magic");
  const uint8_t* p = head.data();
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
  // Byte size with zero sizes counted as 1, as the safetensors reader counts it: a zero size
  // must not let the other sizes through unchecked, since strides and element counts are later
  // products of them in int64 (a [2^32-1, 2^32-1, 0] header is no empty tensor volt can hold).
  // Sizes are < 2^32 each, but eight of them can overflow 64 bits.
  uint64_t bounded = type->size;
  bool overflow = false;
  for (int d = 0; d < ndims; ++d) {
    const uint32_t s = load_be32(p + 4 + 4 * d);
    shape[d] = s;
    any_zero = any_zero || s == 0;
    overflow = __builtin_mul_overflow(bounded, uint64_t{std::max<uint32_t>(s, 1)}, &bounded) || overflow;
  }
  constexpr auto kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  VOLT_CHECK(!any_zero || (!overflow && bounded <= kInt64Max), "IDX '", name, "': sizes ", shape_str(shape), " of ",
             type->name, " are too large: with zero sizes counted as 1 they span more than 2^63-1 bytes");
  const std::size_t payload = n - header;
  const uint64_t need = any_zero ? 0 : bounded;
  VOLT_CHECK(!overflow && need == payload, "IDX '", name, "': sizes ", shape_str(shape), " of ", type->name, " need ",
             overflow ? "more than 2^64" : std::to_string(need), " data bytes, but the file has ", payload,
             (overflow || need > payload) ? " (truncated?)" : " (trailing bytes?)");
  return {type, std::move(shape), header, payload};
}

// The tensor a checked header describes, its data not yet filled in. Whatever core refuses
// (its own size limits, an allocation that fails) is reported naming the file.
Tensor allocate(const IdxLayout& layout, const std::string& name) {
  try {
    return empty(layout.shape, layout.type->dtype);
  } catch (const Error& e) {
    VOLT_FAIL("IDX '", name, "': cannot hold sizes ", shape_str(layout.shape), " of ", layout.type->name, ": ",
              e.what());
  }
}

// Where the bytes of a file come from: memory, or the file itself, read a chunk at a time, so
// that neither a raw file nor a compressed one is ever held whole next to its tensor.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual std::size_t size() const = 0;
  // The bytes from `offset` (< size()) on: all of them, or at least min(kChunkBytes, the rest);
  // valid until the next call.
  virtual std::span<const uint8_t> from(std::size_t offset) = 0;
  // Copies [offset, offset + n) to dst.
  virtual void copy(std::size_t offset, void* dst, std::size_t n) = 0;
};

class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  std::size_t size() const override { return bytes_.size(); }
  std::span<const uint8_t> from(std::size_t offset) override { return bytes_.subspan(offset); }
  void copy(std::size_t offset, void* dst, std::size_t n) override {
    if (n) std::memcpy(dst, bytes_.data() + offset, n);
  }

 private:
  std::span<const uint8_t> bytes_;
};

class FileSource final : public ByteSource {
 public:
  FileSource(std::ifstream& in, std::size_t size, const std::string& path) : in_(in), size_(size), path_(path) {}
  std::size_t size() const override { return size_; }
  std::span<const uint8_t> from(std::size_t offset) override {
    chunk_.resize(std::min(kChunkBytes, size_ - offset));
    copy(offset, chunk_.data(), chunk_.size());
    return chunk_;
  }
  void copy(std::size_t offset, void* dst, std::size_t n) override {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    VOLT_CHECK(static_cast<std::size_t>(in_.gcount()) == n, "IDX '", path_, "': read ", in_.gcount(), " of ", n,
               " bytes at offset ", offset, " (did the file shrink while being read?)");
  }

 private:
  std::ifstream& in_;
  std::size_t size_;
  const std::string& path_;
  std::vector<uint8_t> chunk_;
};

// One pass of inflate over every concatenated gzip member of a source. Checks as it goes what
// zlib checks (each member's CRC-32 and length) and that nothing but whole members follows.
class GzipReader {
 public:
  GzipReader(ByteSource& src, const std::string& name) : src_(src), name_(name) {
    // 16 + MAX_WBITS: gzip wrapper only, so a zlib or raw deflate stream is refused.
    VOLT_CHECK(inflateInit2(&zs_, 16 + MAX_WBITS) == Z_OK, "gzip '", name_, "': inflateInit2 failed");
  }
  ~GzipReader() { inflateEnd(&zs_); }
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;

  // Inflates up to n bytes into dst; fewer only at the end of the last member.
  std::size_t read(uint8_t* dst, std::size_t n) {
    std::size_t got = 0;
    while (got < n && !done_) {
      if (zs_.avail_in == 0 && consumed() < src_.size()) refill();
      const std::size_t room = std::min<std::size_t>(n - got, UINT_MAX);
      zs_.next_out = dst + got;
      zs_.avail_out = static_cast<uInt>(room);
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      got += room - zs_.avail_out;
      if (rc == Z_STREAM_END) {
        next_member();
        continue;
      }
      if (rc == Z_OK) continue;
      // Z_BUF_ERROR with room left: no progress is possible, and all the input is in.
      VOLT_CHECK(rc != Z_BUF_ERROR, "gzip '", name_, "': stream is truncated (ends after ", src_.size(),
                 " compressed bytes, before the end of the gzip member)");
      VOLT_FAIL("gzip '", name_, "': corrupt stream (zlib: ", zs_.msg ? zs_.msg : zError(rc), ")");
    }
    return got;
  }

 private:
  std::size_t consumed() const { return chunk_start_ + (chunk_size_ - zs_.avail_in); }

  void refill() {
    const std::size_t at = consumed();
    const std::span<const uint8_t> chunk = src_.from(at);
    chunk_start_ = at;
    chunk_size_ = std::min<std::size_t>(chunk.size(), UINT_MAX);
    zs_.next_in = const_cast<Bytef*>(chunk.data());  // zlib's API is not const-correct
    zs_.avail_in = static_cast<uInt>(chunk_size_);
  }

  // After a member's trailer: the end of the stream, or the start of another member.
  void next_member() {
    const std::size_t rest = src_.size() - consumed();
    if (rest == 0) {
      done_ = true;
      return;
    }
    refill();
    VOLT_CHECK(is_gzip({zs_.next_in, zs_.avail_in}), "gzip '", name_, "': ", rest,
               " trailing bytes after the gzip stream");
    VOLT_CHECK(inflateReset(&zs_) == Z_OK, "gzip '", name_, "': inflateReset failed");
  }

  ByteSource& src_;
  const std::string& name_;
  z_stream zs_{};
  std::size_t chunk_start_ = 0;
  std::size_t chunk_size_ = 0;
  bool done_ = false;
};

// The first pass over a gzip stream: validates all of it and counts what it inflates to,
// keeping only the first bytes (where an IDX header lies) and nothing of size `total`. Stops
// once the output passes max_bytes, so a bomb costs time bounded by the cap, and no memory.
struct GzipScan {
  std::array<uint8_t, kMaxHeaderBytes> head{};
  std::size_t head_size = 0;
  std::size_t total = 0;
};

GzipScan scan_gzip(ByteSource& src, const std::string& name, std::size_t max_bytes) {
  VOLT_CHECK(is_gzip(src.size() ? src.from(0) : std::span<const uint8_t>{}), "gzip '", name,
             "': missing the gzip magic 0x1f 0x8b");
  GzipReader reader(src, name);
  GzipScan scan;
  scan.head_size = reader.read(scan.head.data(), scan.head.size());
  scan.total = scan.head_size;
  const auto scratch = std::make_unique_for_overwrite<uint8_t[]>(kChunkBytes);  // written before it is read
  for (;;) {
    VOLT_CHECK(scan.total <= max_bytes, "gzip '", name, "': decompresses to more than ", max_bytes, " bytes");
    // One byte past the limit at most, so that output of exactly max_bytes is told from more.
    const std::size_t left = max_bytes - scan.total;
    const std::size_t got = reader.read(scratch.get(), left < kChunkBytes ? left + 1 : kChunkBytes);
    if (got == 0) return scan;
    scan.total += got;
  }
}

// The second pass: inflates the stream again, its first `skip` bytes into a scratch array and
// the next n straight into dst, and checks that it ends there, as the first pass found.
void inflate_into(ByteSource& src, const std::string& name, std::size_t skip, uint8_t* dst, std::size_t n) {
  GzipReader reader(src, name);
  std::array<uint8_t, kMaxHeaderBytes> head{};
  uint8_t beyond = 0;
  const bool same = reader.read(head.data(), skip) == skip && reader.read(dst, n) == n && reader.read(&beyond, 1) == 0;
  VOLT_CHECK(same, "gzip '", name, "': the stream inflated differently the second time (did the file change while ",
             "being read?)");
}

// A raw (uncompressed) IDX file: its data is copied once, straight into the tensor.
Tensor decode_raw(ByteSource& src, std::span<const uint8_t> start, const std::string& name) {
  const IdxLayout layout = check_header(start.first(std::min(start.size(), kMaxHeaderBytes)), src.size(), name);
  Tensor t = allocate(layout, name);
  auto* data = static_cast<uint8_t*>(t.data_ptr());
  src.copy(layout.header, data, layout.payload);
  big_endian_to_host(data, layout.payload / layout.type->size, layout.type->size);
  return t;
}

// A gzip'd IDX file in two passes: count and check first, then allocate the tensor once and
// inflate into it, so that the peak is the tensor and a few chunks, never a decompressed copy
// beside it (nor a buffer grown by doubling past the cap).
Tensor decode_gzip(ByteSource& src, const std::string& name, std::size_t max_bytes) {
  const GzipScan scan = scan_gzip(src, name, max_bytes);
  const IdxLayout layout = check_header({scan.head.data(), scan.head_size}, scan.total, name);
  Tensor t = allocate(layout, name);
  auto* data = static_cast<uint8_t*>(t.data_ptr());
  inflate_into(src, name, layout.header, data, layout.payload);
  big_endian_to_host(data, layout.payload / layout.type->size, layout.type->size);
  return t;
}

Tensor decode(ByteSource& src, const std::string& name, std::size_t max_bytes) {
  const std::span<const uint8_t> start = src.size() ? src.from(0) : std::span<const uint8_t>{};
  return is_gzip(start) ? decode_gzip(src, name, max_bytes) : decode_raw(src, start, name);
}

}  // namespace

bool is_gzip(std::span<const uint8_t> bytes) { return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

Tensor parse_idx(std::span<const uint8_t> bytes, const std::string& name) {
  MemorySource src(bytes);
  return decode_raw(src, bytes, name);
}

std::vector<uint8_t> gunzip(std::span<const uint8_t> bytes, const std::string& name, std::size_t max_bytes) {
  MemorySource src(bytes);
  const GzipScan scan = scan_gzip(src, name, max_bytes);
  std::vector<uint8_t> out(scan.total);
  inflate_into(src, name, 0, out.data(), out.size());
  return out;
}

Tensor decode_idx(std::span<const uint8_t> bytes, const std::string& name, std::size_t max_bytes) {
  MemorySource src(bytes);
  return decode(src, name, max_bytes);
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
  FileSource src(in, static_cast<std::size_t>(size), path);
  return decode(src, path, kMaxIdxBytes);
}

}  // namespace volt::data
