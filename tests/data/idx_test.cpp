// IDX reader: exact round trips (raw and gzip, every supported type) and one volt::Error per
// malformed case, naming the file and the problem. Expected bytes are built here by hand from
// the format description, not by the reader.
#include "volt/data/idx.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
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
  const Bytes values = pattern(70000);  // several inflate calls
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

// --- sizes that overflow only when a zero size hides them (found by fuzzing) ----------------

TEST(Idx, ZeroSizeDoesNotHideOverflowingSizes) {
  // The fuzzer's 16 bytes: 00 00 08 03 ffffffff ffffffff 00000000. The zero skipped the size
  // check, and later strides multiplied 2^32-1 by 2^32-1 in int64.
  const Bytes found = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
  ASSERT_EQ(found, idx_header(0x08, {0xFFFFFFFFu, 0xFFFFFFFFu, 0}));
  expect_error([&] { parse_idx(found, "found.idx"); },
               {"IDX 'found.idx'", "[4294967295, 4294967295, 0]", "of u8", "too large", "zero sizes counted as 1"});
  expect_error([&] { decode_idx(gzip_bytes(found), "found.idx.gz"); }, {"IDX 'found.idx.gz'", "too large"});

  const std::vector<std::vector<uint32_t>> friends = {
      {0, 0xFFFFFFFFu, 0xFFFFFFFFu},                  // the zero first
      {0xFFFFFFFFu, 0, 0xFFFFFFFFu},                  // in the middle
      {0, 0, 0, 0, 0, 0, 0xFFFFFFFFu, 0xFFFFFFFFu},   // eight dimensions, most of them zero
      {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0, 1},  // overflows 64 bits, not only 63
  };
  for (const auto& dims : friends) {
    Bytes b = idx_header(0x08, dims);
    expect_error([&] { parse_idx(b, "friend.idx"); }, {"IDX 'friend.idx'", "too large"});
    b.push_back(1);  // data where none belongs: still the size error, not "trailing bytes"
    expect_error([&] { parse_idx(b, "friend.idx"); }, {"IDX 'friend.idx'", "too large"});
  }
  // The element size counts: 2^62 elements of u8 fit in int64 bytes, of f64 they do not.
  expect_error(
      [&] {
        parse_idx(idx_header(0x0E, {0, 1u << 31, 1u << 31}), "f64.idx");
      },
      {"IDX 'f64.idx'", "[0, 2147483648, 2147483648]", "of f64", "too large"});
}

TEST(Idx, EmptyTensorsWithLargeSizesAreStillEmptyTensors) {
  // 2^62 bytes, zeros counted as 1: within int64 and within what core allocates.
  const volt::Tensor t = parse_idx(idx_header(0x08, {0, 1u << 31, 1u << 31}), "wide-empty.idx");
  EXPECT_EQ(t.shape(), (volt::Shape{0, 1ll << 31, 1ll << 31}));
  EXPECT_EQ(t.numel(), 0);
  // Within int64 but beyond core's limit on shapes: core refuses it, and the error names the file.
  expect_error(
      [&] {
        parse_idx(idx_header(0x08, {0, 0xFFFFFFFFu, 1u << 31}), "wider-empty.idx");
      },
      {"IDX 'wider-empty.idx'", "[0, 4294967295, 2147483648]"});
}

TEST(Idx, RawAndGzipGiveTheSameVerdictWordForWord) {
  std::vector<Bytes> files = {Bytes{0, 0},
                              Bytes{7, 0, 8, 1},
                              idx_header(0x0A, {1}),
                              idx_header(0x09, {1}),
                              Bytes{0, 0, 8, 0},
                              Bytes{0, 0, 8, 9},
                              Bytes{0, 0, 8, 2, 0, 0, 0, 1},
                              idx_u8({2, 3}, pattern(5)),
                              idx_u8({2, 3}, pattern(7)),
                              idx_header(0x0E, std::vector<uint32_t>(8, 0xFFFFFFFFu)),
                              idx_header(0x08, {0xFFFFFFFFu, 0xFFFFFFFFu, 0})};
  for (const Bytes& raw : files) {
    const std::string a = volt::testing::error_of([&] { parse_idx(raw, "same"); });
    const std::string b = volt::testing::error_of([&] { decode_idx(gzip_bytes(raw), "same"); });
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.rfind("IDX 'same': ", 0), 0u) << a;
  }
}

// --- streaming: chunked files, two passes ---------------------------------------------------

namespace {

// Bytes that deflate cannot shrink, so a gzip of them spans several of the reader's chunks.
Bytes noise(std::size_t n, uint32_t seed) {
  Bytes b(n);
  for (auto& x : b) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<uint8_t>(seed >> 24);
  }
  return b;
}

}  // namespace

TEST(Idx, GzipFileOfManyChunksAndMembers) {
  // ~1.2 MB compressed in three members, so members and the reader's chunks end at different
  // places, and the trailing-garbage check runs past the first chunk.
  const Bytes values = noise(1200 * 1000, 5);
  const Bytes whole = idx_u8({1200, 1000}, values);
  Bytes gz;
  for (const auto& [begin, end] :
       {std::pair<std::size_t, std::size_t>{0, 300001}, {300001, 900000}, {900000, whole.size()}}) {
    const Bytes member = gzip_bytes(Bytes(whole.begin() + begin, whole.begin() + end));
    gz.insert(gz.end(), member.begin(), member.end());
  }
  TempDir dir;
  const std::string path = dir.file("noise.gz");
  write_raw(path, gz);
  const volt::Tensor t = read_idx(path);
  EXPECT_EQ(t.shape(), (volt::Shape{1200, 1000}));
  EXPECT_EQ(t.to_vector<uint8_t>(), values);
  EXPECT_EQ(decode_idx(gz, "noise").to_vector<uint8_t>(), values);

  gz.push_back(0x1f);
  const std::string garbage = dir.file("noise-garbage.gz");
  write_raw(garbage, gz);
  expect_error([&] { read_idx(garbage); }, {garbage, "1 trailing bytes"});
  gz.resize(gz.size() - 200);
  const std::string cut = dir.file("noise-cut.gz");
  write_raw(cut, gz);
  expect_error([&] { read_idx(cut); }, {cut, "truncated"});
}

TEST(Idx, RawF32FileOfManyChunks) {
  Bytes b = idx_header(0x0D, {300, 1000});
  const Bytes values = noise(300 * 1000 * 4, 9);
  b.insert(b.end(), values.begin(), values.end());
  TempDir dir;
  const std::string path = dir.file("big-f32");
  write_raw(path, b);
  const std::vector<float> got = read_idx(path).to_vector<float>();
  ASSERT_EQ(got.size(), 300u * 1000u);
  for (std::size_t i = 0; i < got.size(); i += 4099) {
    const uint32_t be = (uint32_t{values[4 * i]} << 24) | (uint32_t{values[4 * i + 1]} << 16) |
                        (uint32_t{values[4 * i + 2]} << 8) | values[4 * i + 3];
    EXPECT_EQ(std::bit_cast<uint32_t>(got[i]), be) << i;
  }
}

TEST(Idx, GunzipResultHasExactlyItsSize) {
  const Bytes payload = pattern(100000);
  const Bytes out = gunzip(gzip_bytes(payload), "exact");
  EXPECT_EQ(out, payload);
  EXPECT_EQ(out.capacity(), out.size());  // no doubling growth, no slack to shrink
  EXPECT_TRUE(gunzip(gzip_bytes({}), "nothing").empty());
}

// --- peak memory (found by fuzzing: 1 MB of gzip made the reader take 2.1 GiB) ---------------

#if defined(__SANITIZE_ADDRESS__)
#define VOLT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VOLT_TEST_ASAN 1
#endif
#endif

#ifdef VOLT_TEST_ASAN
TEST(Idx, PeakMemoryOfAGzipAtTheCap) {
  GTEST_SKIP() << "AddressSanitizer's allocator (shadow memory, quarantine, its own mmap of large blocks) "
                  "changes the peak RSS these tests measure";
}
TEST(Idx, GzipPastTheCapIsRefusedBeforeAllocating) {
  GTEST_SKIP() << "AddressSanitizer's allocator changes the peak RSS these tests measure";
}
#else

namespace {

// Streams an IDX u8 header [zeros] and `zeros` zero bytes through deflate, without holding them:
// ~4.7 MB of gzip for 1 GiB.
Bytes gzip_of_zeros(std::size_t zeros, uint32_t dim) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out, chunk(std::size_t{1} << 20), in(std::size_t{1} << 20, 0);
  const auto feed = [&](const uint8_t* p, std::size_t n, int flush) {
    zs.next_in = const_cast<Bytef*>(p);
    zs.avail_in = static_cast<uInt>(n);
    do {
      zs.next_out = chunk.data();
      zs.avail_out = static_cast<uInt>(chunk.size());
      deflate(&zs, flush);
      out.insert(out.end(), chunk.data(), chunk.data() + (chunk.size() - zs.avail_out));
    } while (zs.avail_out == 0);
  };
  const Bytes head = idx_header(0x08, {dim});
  feed(head.data(), head.size(), Z_NO_FLUSH);
  for (std::size_t left = zeros; left > 0;) {
    const std::size_t n = std::min(left, in.size());
    feed(in.data(), n, Z_NO_FLUSH);
    left -= n;
  }
  feed(nullptr, 0, Z_FINISH);
  deflateEnd(&zs);
  return out;
}

long max_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss * 1024L;  // Linux reports KiB
}

struct Peak {
  long growth = 0;    // bytes the peak RSS rose by while `f` ran
  std::string error;  // what `f` reported, or how the child failed
};

// Runs `f` in a forked child and measures it there: the child's peak RSS starts at its RSS at
// the fork, not at whatever this process (or an earlier test in it) once reached.
Peak peak_in_child(const std::function<std::string()>& f) {
  int fds[2];
  if (pipe(fds) != 0) return {0, "pipe failed"};
  const pid_t pid = fork();
  if (pid < 0) return {0, "fork failed"};
  if (pid == 0) {
    close(fds[0]);
    const long before = max_rss_bytes();
    std::string error;
    try {
      error = f();
    } catch (const std::exception& e) {
      error = std::string("threw: ") + e.what();
    }
    const std::string report = std::to_string(max_rss_bytes() - before) + "\n" + error;
    const bool written = write(fds[1], report.data(), report.size()) == static_cast<ssize_t>(report.size());
    _exit(written ? 0 : 1);
  }
  close(fds[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    report.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || report.find('\n') == std::string::npos)
    return {0, "the child died (status " + std::to_string(status) + ")"};
  const std::size_t nl = report.find('\n');
  return {std::stol(report.substr(0, nl)), report.substr(nl + 1)};
}

// The payload that, with its 8-byte header, makes exactly kMaxIdxBytes of decompressed file.
constexpr std::size_t kBigPayload = volt::data::kMaxIdxBytes - 8;

const Bytes& gzip_at_the_cap() {
  static const Bytes gz = gzip_of_zeros(kBigPayload, static_cast<uint32_t>(kBigPayload));
  return gz;
}

}  // namespace

#define SKIP_WHERE_PEAKS_MEAN_NOTHING()                                                             \
  do {                                                                                              \
    if (sizeof(std::size_t) < 8) GTEST_SKIP() << "needs a 64-bit address space for a 1 GiB tensor"; \
  } while (0)

TEST(Idx, PeakMemoryOfAGzipAtTheCap) {
  SKIP_WHERE_PEAKS_MEAN_NOTHING();
  // 1 GiB of zeros from ~4.7 MB of gzip: the peak is the tensor (plus chunks), not twice it.
  const Bytes& gz = gzip_at_the_cap();
  const auto decodes_to_zeros = [](const volt::Tensor& t) -> std::string {
    if (t.shape() != volt::Shape{static_cast<int64_t>(kBigPayload)}) return "wrong shape " + volt::shape_str(t.shape());
    const auto* p = static_cast<const uint8_t*>(t.data_ptr());
    for (std::size_t i = 0; i < kBigPayload; i += 4093)
      if (p[i] != 0) return "byte " + std::to_string(i) + " is not zero";
    return p[kBigPayload - 1] == 0 ? "" : "the last byte is not zero";
  };
  const long limit = static_cast<long>(1.1 * static_cast<double>(kBigPayload));
  const Peak in_memory = peak_in_child([&] { return decodes_to_zeros(decode_idx(gz, "zeros.gz")); });
  EXPECT_EQ(in_memory.error, "");
  EXPECT_GT(in_memory.growth, static_cast<long>(kBigPayload / 2)) << "the tensor itself was not measured";
  EXPECT_LE(in_memory.growth, limit) << "decode_idx peaked at " << in_memory.growth << " bytes for a " << kBigPayload
                                     << "-byte tensor";

  TempDir dir;
  const std::string path = dir.file("zeros-idx1-ubyte.gz");
  write_raw(path, gz);
  const Peak from_file = peak_in_child([&] { return decodes_to_zeros(read_idx(path)); });
  EXPECT_EQ(from_file.error, "");
  EXPECT_LE(from_file.growth, limit) << "read_idx peaked at " << from_file.growth << " bytes for a " << kBigPayload
                                     << "-byte tensor";
}

TEST(Idx, GzipPastTheCapIsRefusedBeforeAllocating) {
  SKIP_WHERE_PEAKS_MEAN_NOTHING();
  // One more byte, as a second member: kMaxIdxBytes + 1 decompressed bytes.
  Bytes gz = gzip_at_the_cap();
  const Bytes one = gzip_bytes({0});
  gz.insert(gz.end(), one.begin(), one.end());
  const long limit = 64L << 20;  // the scan's scratch is 256 KiB; the gzip itself is in the parent
  for (const bool raw_bytes : {false, true}) {
    const Peak p = peak_in_child([&]() -> std::string {
      const std::string msg = volt::testing::error_of([&] {
        if (raw_bytes)
          gunzip(gz, "bomb.gz");
        else
          decode_idx(gz, "bomb.gz");
      });
      const std::string want = "gzip 'bomb.gz': decompresses to more than " + std::to_string(volt::data::kMaxIdxBytes);
      return msg.find(want) == std::string::npos ? "unexpected: " + msg : "";
    });
    EXPECT_EQ(p.error, "") << (raw_bytes ? "gunzip" : "decode_idx");
    EXPECT_LE(p.growth, limit) << (raw_bytes ? "gunzip" : "decode_idx") << " peaked at " << p.growth
                               << " bytes before refusing";
  }
}
#endif
