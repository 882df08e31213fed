// IDX reader: exact round trips (raw and gzip, every supported type) and one volt::Error per
// malformed case, naming the file and the problem. Expected bytes are built here by hand from
// the format description, not by the reader.
#include "volt/data/idx.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_support.h"
#include "volt/core/error.h"

namespace fs = std::filesystem;
using volt::data::decode_idx;
using volt::data::gunzip;
using volt::data::parse_idx;
using volt::data::read_idx;

namespace {

using Bytes = std::vector<uint8_t>;

void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8)
    b.push_back(static_cast<uint8_t>(v >> s));
}
void put_be64(Bytes& b, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8)
    b.push_back(static_cast<uint8_t>(v >> s));
}

Bytes idx_header(uint8_t type, const std::vector<uint32_t>& dims) {
  Bytes b = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    put_be32(b, d);
  return b;
}

Bytes idx_u8(const std::vector<uint32_t>& dims, const Bytes& payload) {
  Bytes b = idx_header(0x08, dims);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

using volt::testing::TempDir;

void write_raw(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void write_gzip(const std::string& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb9");
  ASSERT_NE(f, nullptr) << path;
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), int(bytes.size()));
  }
  ASSERT_EQ(gzclose(f), Z_OK);
}

Bytes read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Bytes gzip_bytes(const Bytes& bytes) {
  TempDir dir;
  const std::string p = dir.file("x.gz");
  write_gzip(p, bytes);
  return read_raw(p);
}

// Runs `f`, expecting a volt::Error whose message contains every one of `parts`.
using volt::testing::expect_error;

Bytes pattern(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
  return b;
}

}  // namespace

// --- well-formed files ---------------------------------------------------------------------

TEST(Idx, RawU8RoundTrip) {
  TempDir dir;
  const Bytes values = pattern(3 * 4 * 5);
  const std::string path = dir.file("a-idx3-ubyte");
  write_raw(path, idx_u8({3, 4, 5}, values));
  const volt::Tensor t = read_idx(path);
  EXPECT_EQ(t.dtype(), volt::DType::u8);
  EXPECT_EQ(t.shape(), (volt::Shape{3, 4, 5}));
  EXPECT_EQ(t.to_vector<uint8_t>(), values);
}

TEST(Idx, GzipU8RoundTrip) {
  TempDir dir;
  const Bytes values = pattern(70000);  // several inflate chunks and a buffer regrowth
  const std::string path = dir.file("a-idx2-ubyte.gz");
  write_gzip(path, idx_u8({700, 100}, values));
  const volt::Tensor t = read_idx(path);
  EXPECT_EQ(t.dtype(), volt::DType::u8);
  EXPECT_EQ(t.shape(), (volt::Shape{700, 100}));
  EXPECT_EQ(t.to_vector<uint8_t>(), values);
}

TEST(Idx, GzipDetectedByMagicNotName) {
  TempDir dir;
  const Bytes values = pattern(6);
  const std::string gz_named_raw = dir.file("raw.gz");
  const std::string raw_named_gz = dir.file("gz.idx");
  write_raw(gz_named_raw, idx_u8({6}, values));
  write_gzip(raw_named_gz, idx_u8({6}, values));
  EXPECT_EQ(read_idx(gz_named_raw).to_vector<uint8_t>(), values);
  EXPECT_EQ(read_idx(raw_named_gz).to_vector<uint8_t>(), values);
}

TEST(Idx, BigEndianI32F32F64) {
  const std::vector<int32_t> ints = {0, 1, -1, 123456789, -987654321, INT32_MAX, INT32_MIN};
  Bytes b = idx_header(0x0C, {7});
  for (int32_t v : ints)
    put_be32(b, static_cast<uint32_t>(v));
  volt::Tensor t = parse_idx(b, "ints");
  EXPECT_EQ(t.dtype(), volt::DType::i32);
  EXPECT_EQ(t.to_vector<int32_t>(), ints);

  const std::vector<float> floats = {0.0f, -0.0f, 1.5f, -0.1f, 3.4e38f, 1e-40f};
  b = idx_header(0x0D, {2, 3});
  for (float v : floats)
    put_be32(b, std::bit_cast<uint32_t>(v));
  t = parse_idx(b, "floats");
  EXPECT_EQ(t.dtype(), volt::DType::f32);
  EXPECT_EQ(t.shape(), (volt::Shape{2, 3}));
  const std::vector<float> got = t.to_vector<float>();
  for (std::size_t i = 0; i < floats.size(); ++i)
    EXPECT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(floats[i])) << i;

  const std::vector<double> doubles = {0.1, -2.5e300, 1.0 / 3.0};
  b = idx_header(0x0E, {3, 1});
  for (double v : doubles)
    put_be64(b, std::bit_cast<uint64_t>(v));
  t = parse_idx(b, "doubles");
  EXPECT_EQ(t.dtype(), volt::DType::f64);
  EXPECT_EQ(t.shape(), (volt::Shape{3, 1}));
  EXPECT_EQ(t.to_vector<double>(), doubles);
}

TEST(Idx, ZeroSizedDimensionHasNoData) {
  const volt::Tensor t = parse_idx(idx_header(0x08, {0, 28, 28}), "empty");
  EXPECT_EQ(t.shape(), (volt::Shape{0, 28, 28}));
  EXPECT_EQ(t.numel(), 0);
}

TEST(Idx, ConcatenatedGzipMembersAreOneStream) {
  const Bytes whole = idx_u8({2, 5}, pattern(10));
  const Bytes first(whole.begin(), whole.begin() + 7);
  const Bytes second(whole.begin() + 7, whole.end());
  Bytes gz = gzip_bytes(first);
  const Bytes gz2 = gzip_bytes(second);
  gz.insert(gz.end(), gz2.begin(), gz2.end());
  EXPECT_EQ(decode_idx(gz, "two-members").to_vector<uint8_t>(), pattern(10));
}

// --- malformed files -----------------------------------------------------------------------

TEST(Idx, MissingFile) {
  TempDir dir;
  const std::string path = dir.file("nope-idx1-ubyte.gz");
  expect_error([&] { read_idx(path); }, {path, "not found"});
}

TEST(Idx, DirectoryIsNotAFile) {
  TempDir dir;
  const std::string path = dir.file("sub");
  fs::create_directory(path);
  expect_error([&] { read_idx(path); }, {path, "not a regular file"});
}

TEST(Idx, TooShortForMagic) {
  TempDir dir;
  const std::string path = dir.file("short");
  write_raw(path, {0, 0, 8});
  expect_error([&] { read_idx(path); }, {path, "too short", "magic"});
  expect_error([&] { parse_idx(Bytes{}, "nothing"); }, {"nothing", "too short"});
}

TEST(Idx, BadMagic) {
  TempDir dir;
  for (const Bytes& head : {Bytes{1, 0, 8, 1}, Bytes{0, 1, 8, 1}, Bytes{'P', 'K', 3, 4}}) {
    Bytes b = head;
    put_be32(b, 1);
    b.push_back(0);
    const std::string path = dir.file("bad-magic");
    write_raw(path, b);
    expect_error([&] { read_idx(path); }, {path, "bad magic"});
  }
}

TEST(Idx, UnknownElementType) {
  for (uint8_t type : {0x00, 0x07, 0x0A, 0x0F, 0xFF}) {
    Bytes b = idx_header(type, {1});
    b.insert(b.end(), 8, 0);
    expect_error([&] { parse_idx(b, "weird.idx"); }, {"weird.idx", "unknown element type"});
  }
}

TEST(Idx, ValidTypesWithoutAVoltDtype) {
  Bytes i8 = idx_header(0x09, {2});
  i8.insert(i8.end(), 2, 0);
  expect_error([&] { parse_idx(i8, "bytes.idx"); }, {"bytes.idx", "0x09", "i8", "not supported"});
  Bytes i16 = idx_header(0x0B, {2});
  i16.insert(i16.end(), 4, 0);
  expect_error([&] { parse_idx(i16, "shorts.idx"); }, {"shorts.idx", "0x0b", "i16", "not supported"});
}

TEST(Idx, ZeroDimensions) {
  TempDir dir;
  const std::string path = dir.file("scalar");
  write_raw(path, {0, 0, 8, 0, 42});
  expect_error([&] { read_idx(path); }, {path, "zero dimensions"});
}

TEST(Idx, TooManyDimensions) {
  Bytes b = idx_header(0x08, std::vector<uint32_t>(9, 1));
  b.push_back(7);
  expect_error([&] { parse_idx(b, "deep.idx"); }, {"deep.idx", "9 dimensions"});
  Bytes b255 = {0, 0, 8, 255};
  expect_error([&] { parse_idx(b255, "deeper.idx"); }, {"deeper.idx", "255 dimensions"});
}

TEST(Idx, HeaderShorterThanItsDimensionList) {
  TempDir dir;
  Bytes b = {0, 0, 8, 3};
  put_be32(b, 60000);
  put_be32(b, 28);  // third size missing
  const std::string path = dir.file("cut-header");
  write_raw(path, b);
  expect_error([&] { read_idx(path); }, {path, "3 dimensions", "16 header bytes", "only 12 bytes"});
}

TEST(Idx, DataTooShort) {
  TempDir dir;
  const std::string path = dir.file("short-data");
  write_raw(path, idx_u8({2, 3}, pattern(5)));
  expect_error([&] { read_idx(path); }, {path, "[2, 3]", "need 6 data bytes", "has 5"});
  Bytes ints = idx_header(0x0C, {3});
  ints.insert(ints.end(), 11, 0);  // 3 i32 need 12
  expect_error([&] { parse_idx(ints, "ints.idx"); }, {"ints.idx", "need 12 data bytes", "has 11"});
}

TEST(Idx, DataTooLong) {
  TempDir dir;
  const std::string path = dir.file("long-data.gz");
  write_gzip(path, idx_u8({2, 3}, pattern(7)));
  expect_error([&] { read_idx(path); }, {path, "[2, 3]", "need 6 data bytes", "has 7"});
}

TEST(Idx, HugeSizesDoNotOverflowOrAllocate) {
  // 2^32-1 to the 8th power overflows 64 bits; the check must still see "more than the file".
  Bytes b = idx_header(0x0E, std::vector<uint32_t>(8, 0xFFFFFFFFu));
  b.insert(b.end(), 16, 0);
  expect_error([&] { parse_idx(b, "huge.idx"); }, {"huge.idx", "need more than 2^64 data bytes", "has 16"});
  // A header claiming Fashion-MNIST's size over a few bytes of data.
  TempDir dir;
  const std::string path = dir.file("liar.gz");
  write_gzip(path, idx_u8({60000, 28, 28}, pattern(100)));
  expect_error([&] { read_idx(path); }, {path, "[60000, 28, 28]", "has 100"});
}

TEST(Idx, TruncatedGzip) {
  TempDir dir;
  const std::string good = dir.file("good.gz");
  write_gzip(good, idx_u8({100, 100}, pattern(10000)));
  const Bytes gz = read_raw(good);
  for (std::size_t keep : {gz.size() / 2, gz.size() - 4, std::size_t{2}, std::size_t{12}}) {
    const std::string path = dir.file("cut.gz");
    write_raw(path, Bytes(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(keep)));
    expect_error([&] { read_idx(path); }, {path, "truncated"});
  }
}

TEST(Idx, CorruptGzip) {
  TempDir dir;
  const std::string good = dir.file("good.gz");
  write_gzip(good, idx_u8({100, 100}, pattern(10000)));
  const Bytes gz = read_raw(good);

  Bytes bad_crc = gz;
  bad_crc[gz.size() - 8] ^= 0xFF;  // trailer: CRC-32, then ISIZE
  const std::string crc_path = dir.file("crc.gz");
  write_raw(crc_path, bad_crc);
  expect_error([&] { read_idx(crc_path); }, {crc_path, "corrupt"});

  Bytes bad_method = gz;
  bad_method[2] = 7;  // only 8 (deflate) exists
  const std::string method_path = dir.file("method.gz");
  write_raw(method_path, bad_method);
  expect_error([&] { read_idx(method_path); }, {method_path, "corrupt"});

  Bytes garbage = gz;
  for (const char c : std::string("trailing garbage"))
    garbage.push_back(static_cast<uint8_t>(c));
  const std::string garbage_path = dir.file("garbage.gz");
  write_raw(garbage_path, garbage);
  expect_error([&] { read_idx(garbage_path); }, {garbage_path, "16 trailing bytes"});
}

TEST(Idx, GunzipStopsAtTheLimit) {
  const Bytes payload = pattern(1000);
  const Bytes gz = gzip_bytes(payload);
  EXPECT_EQ(gunzip(gz, "exact", 1000), payload);
  expect_error([&] { gunzip(gz, "bomb", 999); }, {"bomb", "more than 999 bytes"});
  expect_error([&] { gunzip(payload, "plain", 5000); }, {"plain", "gzip magic"});
}
