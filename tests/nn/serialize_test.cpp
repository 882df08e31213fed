// safetensors save/load: round trips for every dtype, compatibility with the reference Python
// implementation in both directions, atomic writes, and malformed files.
#include "volt/nn/serialize.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <typeinfo>
#include <vector>

#include "test_support.h"
#include "volt/volt.h"

namespace volt::nn {
namespace {

namespace fs = std::filesystem;

// --- helpers ------------------------------------------------------------------------------------

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << p;
}

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i)
    s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

uint64_t read_u64_le(const std::string& s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(s[i])) << (8 * i);
  return v;
}

// A file: length, header, buffer.
std::string file_bytes(const std::string& header, const std::string& buffer = "") {
  return u64_le(header.size()) + header + buffer;
}

std::string raw_bytes(const Tensor& t) {
  const Tensor c = t.contiguous();
  return {static_cast<const char*>(c.data_ptr()), c.nbytes()};
}

// Same dtype, shape and bytes (so NaN payloads and -0.0 count).
void expect_identical(const Tensor& actual, const Tensor& expected, const std::string& name) {
  ASSERT_TRUE(actual.defined()) << name;
  EXPECT_EQ(actual.dtype(), expected.dtype()) << name;
  EXPECT_EQ(actual.shape(), expected.shape()) << name;
  EXPECT_TRUE(actual.device().is_cpu()) << name;
  // Tensor::is_contiguous() answers false for some empty shapes such as [3, 0, 2] (it multiplies by the
  // zero size where contiguous_strides() uses 1), so only non-empty tensors are asked.
  if (actual.numel() > 0) {
    EXPECT_TRUE(actual.is_contiguous()) << name;
  }
  EXPECT_EQ(actual.strides(), contiguous_strides(actual.shape())) << name;
  EXPECT_FALSE(actual.requires_grad()) << name;
  EXPECT_EQ(raw_bytes(actual), raw_bytes(expected)) << name;
}

void expect_same_state(const StateDict& actual, const StateDict& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [name, t] : expected) {
    auto it = actual.find(name);
    ASSERT_NE(it, actual.end()) << "missing " << name;
    expect_identical(it->second, t, name);
  }
}

template <class T>
Tensor from_formula(const Shape& shape, const std::function<double(int64_t)>& f) {
  std::vector<T> values;
  for (int64_t k = 0; k < numel(shape); ++k)
    values.push_back(static_cast<T>(f(k)));
  return tensor<T>(values, shape);
}

// The tensors of scripts/make_safetensors_fixture.py (REFERENCE_TENSORS), from the same formulas of the
// flat row-major index k. With `transposed_f32`, f32_matrix is a non-contiguous (transposed) view.
StateDict reference_tensors(bool transposed_f32 = false) {
  StateDict d;
  const auto f32 = [](int64_t k) { return 0.25 * static_cast<double>(k) - 1.5; };
  if (transposed_f32) {
    // A [4, 3] tensor whose transpose holds f32(k) at flat index k of the [3, 4] result.
    std::vector<float> v(12);
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 4; ++j)
        v[j * 3 + i] = static_cast<float>(f32(i * 4 + j));
    d["f32_matrix"] = tensor<float>(v, {4, 3}).t();
    EXPECT_FALSE(d["f32_matrix"].is_contiguous());
  } else {
    d["f32_matrix"] = from_formula<float>({3, 4}, f32);
  }
  d["f64_vector"] = from_formula<double>({5}, [](int64_t k) { return 1.0 / static_cast<double>(k + 1); });
  d["f16_matrix"] =
      from_formula<float>({2, 3}, [](int64_t k) { return 0.5 * static_cast<double>(k) - 1.25; }).to(DType::f16);
  d["bf16_vector"] =
      from_formula<float>({4}, [](int64_t k) { return 0.75 * static_cast<double>(k) - 2.0; }).to(DType::bf16);
  {
    std::vector<int64_t> v;
    for (int64_t k = 0; k < 4; ++k)
      v.push_back((k - 2) * 1'000'000'000'000 + k);
    d["i64_vector"] = tensor<int64_t>(v);
  }
  {
    std::vector<int32_t> v;
    for (int32_t k = 0; k < 12; ++k)
      v.push_back(3 - 7 * k);
    d["i32_tensor3"] = tensor<int32_t>(v, {2, 2, 3});
  }
  {
    std::vector<uint8_t> v;
    for (int k = 0; k < 6; ++k)
      v.push_back(static_cast<uint8_t>((37 * k + 200) % 256));
    d["u8_vector"] = tensor<uint8_t>(v);
  }
  {
    std::vector<bool> v;
    for (int k = 0; k < 5; ++k)
      v.push_back(k % 3 == 0);
    d["bool_vector"] = tensor<bool>(v);
  }
  d["scalar"] = tensor<float>({3.25f}).reshape({});
  d["empty"] = tensor<float>({}, {0, 3});
  return d;
}

// REFERENCE_METADATA of scripts/make_safetensors_fixture.py.
Metadata reference_metadata() {
  return {{"format", "volt-reference"},
          {"written_by", "scripts/make_safetensors_fixture.py"},
          {"unicode", "\u03bb \u2192 \u2713"}};
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int run_shell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool reference_python_available() {
  return run_shell("python3 -c 'import safetensors, safetensors.numpy, numpy' >/dev/null 2>&1") == 0;
}

const fs::path kSourceDir = VOLT_SOURCE_DIR;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "volt_serialize_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::set<std::string> files_in_dir() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_))
      names.insert(e.path().filename().string());
    return names;
  }
  fs::path dir_;
};

// --- the reference implementation's file --------------------------------------------------------

TEST_F(SafetensorsTest, LoadsReferenceFixture) {
  Metadata meta;
  const StateDict loaded = load_safetensors((kSourceDir / "tests/fixtures/reference.safetensors").string(), &meta);
  expect_same_state(loaded, reference_tensors());
  EXPECT_EQ(meta, reference_metadata());
  // Spot-check values through conversions too, not only bytes.
  EXPECT_EQ(loaded.at("f16_matrix").to(DType::f32).to_vector<float>(),
            (std::vector<float>{-1.25f, -0.75f, -0.25f, 0.25f, 0.75f, 1.25f}));
  EXPECT_EQ(loaded.at("bf16_vector").to(DType::f32).to_vector<float>(),
            (std::vector<float>{-2.0f, -1.25f, -0.5f, 0.25f}));
  EXPECT_EQ(loaded.at("scalar").dim(), 0);
  EXPECT_EQ(loaded.at("scalar").item<float>(), 3.25f);
  EXPECT_EQ(loaded.at("empty").numel(), 0);
}

TEST_F(SafetensorsTest, ReferenceImplementationReadsVoltFile) {
  if (!reference_python_available())
    GTEST_SKIP() << "python3 with the safetensors and numpy modules is not available (scripts/bootstrap installs "
                    "them)";
  const fs::path file = dir_ / "volt.safetensors";
  save_safetensors(file.string(), reference_tensors(/*transposed_f32=*/true), reference_metadata());
  const std::string script = shell_quote((kSourceDir / "scripts/check_safetensors.py").string());
  EXPECT_EQ(run_shell("python3 " + script + " " + shell_quote(file.string())), 0);

  // The check is not vacuous: a changed value, a missing tensor or changed metadata fail it.
  StateDict changed = reference_tensors();
  changed["scalar"] = tensor<float>({3.5f}).reshape({});
  save_safetensors(file.string(), changed, reference_metadata());
  EXPECT_NE(run_shell("python3 " + script + " " + shell_quote(file.string()) + " 2>/dev/null"), 0);
  StateDict missing = reference_tensors();
  missing.erase("bf16_vector");
  save_safetensors(file.string(), missing, reference_metadata());
  EXPECT_NE(run_shell("python3 " + script + " " + shell_quote(file.string()) + " 2>/dev/null"), 0);
  save_safetensors(file.string(), reference_tensors(), {{"format", "other"}});
  EXPECT_NE(run_shell("python3 " + script + " " + shell_quote(file.string()) + " 2>/dev/null"), 0);
}

// --- round trips ----------------------------------------------------------------------------------

// Tensors of every dtype with awkward bit patterns: NaN payloads, infinities, -0, subnormals, extremes.
StateDict every_dtype() {
  StateDict d;
  const auto from_bits16 = [](const std::vector<uint16_t>& bits, DType dtype) {
    Tensor t = empty({static_cast<int64_t>(bits.size())}, dtype);
    std::memcpy(t.data_ptr(), bits.data(), bits.size() * 2);
    return t;
  };
  d["half"] = from_bits16({0x0000, 0x8000, 0x0001, 0x03ff, 0x3c00, 0x7bff, 0x7c00, 0xfc00, 0x7e01, 0xfd55}, DType::f16);
  d["bfloat"] =
      from_bits16({0x0000, 0x8000, 0x0001, 0x007f, 0x3f80, 0x7f7f, 0x7f80, 0xff80, 0x7fc1, 0xffa5}, DType::bf16);
  {
    const std::vector<uint32_t> bits = {0x00000000, 0x80000000, 0x00000001, 0x7f7fffff,
                                        0x7f800000, 0x7fc00123, 0x3f800000};
    Tensor t = empty({static_cast<int64_t>(bits.size())}, DType::f32);
    std::memcpy(t.data_ptr(), bits.data(), bits.size() * 4);
    d["float"] = t.view({7, 1});
  }
  d["double"] = tensor<double>({0.1, -0.0, 1e-310, -INFINITY, NAN, 1.7976931348623157e308}, {2, 3});
  d["int32"] = tensor<int32_t>({INT32_MIN, -1, 0, 1, INT32_MAX});
  d["int64"] = tensor<int64_t>({INT64_MIN, -1, 0, 1, INT64_MAX}, {5, 1, 1});
  d["uint8"] = tensor<uint8_t>({0, 1, 127, 128, 255});
  d["bool"] = tensor<bool>({true, false, false, true});
  d["scalar_i64"] = tensor<int64_t>({-42}).reshape({});
  d["empty_f16"] = empty({3, 0, 2}, DType::f16);
  return d;
}

TEST_F(SafetensorsTest, RoundTripEveryDtypeBitExact) {
  const StateDict original = every_dtype();
  const fs::path file = dir_ / "all.safetensors";
  save_safetensors(file.string(), original);
  expect_same_state(load_safetensors(file.string()), original);
  expect_same_state(load_safetensors_from_string(save_safetensors_to_string(original)), original);
  // The file and the in-memory bytes are the same bytes, and saving is deterministic.
  EXPECT_EQ(read_file(file), save_safetensors_to_string(original));
  EXPECT_EQ(save_safetensors_to_string(original), save_safetensors_to_string(every_dtype()));
}

TEST_F(SafetensorsTest, RoundTripNonContiguousViews) {
  const Tensor base = arange(24.0, DType::f32).view({2, 3, 4});
  StateDict views;
  views["transposed"] = base.transpose(0, 2);                         // [4, 3, 2]
  views["strided"] = base.slice(2, 0, 4, 2);                          // [2, 3, 2]
  views["expanded"] = base.select(0, 1).select(0, 2).expand({3, 4});  // stride 0
  views["bf16_narrowed"] = base.to(DType::bf16).narrow(1, 1, 2);      // [2, 2, 4]
  for (const auto& [name, t] : views)
    EXPECT_FALSE(t.is_contiguous()) << name;
  views["offset"] = base.select(0, 1);  // contiguous, but starts inside its storage
  EXPECT_NE(views["offset"].storage_offset(), 0);
  const StateDict loaded = load_safetensors_from_string(save_safetensors_to_string(views));
  for (const auto& [name, t] : views) {
    expect_identical(loaded.at(name), t, name);
    EXPECT_EQ(loaded.at(name).to(DType::f32).to_vector<float>(), t.to(DType::f32).to_vector<float>()) << name;
  }
  EXPECT_EQ(loaded.at("transposed").to_vector<float>()[1], 12.0f);  // element [0, 0, 1] = base[1, 0, 0]
}

TEST_F(SafetensorsTest, SavesTensorsThatRequireGrad) {
  Tensor w = ones({2, 2}).requires_grad_();
  const Tensor y = w * 3.0;
  const StateDict loaded = load_safetensors_from_string(save_safetensors_to_string({{"w", w}, {"y", y}}));
  EXPECT_FALSE(loaded.at("y").requires_grad());
  EXPECT_EQ(loaded.at("y").to_vector<float>(), (std::vector<float>{3, 3, 3, 3}));
}

TEST_F(SafetensorsTest, MetadataRoundTrip) {
  const StateDict tensors = {{"x", tensor<float>({1, 2})}};
  const Metadata meta = {{"epoch", "7"}, {"empty", ""}, {"quote\"back\\slash", "line\nbreak\ttab"}, {"utf8", "\u00e9"}};
  Metadata loaded = {{"stale", "value"}};
  expect_same_state(load_safetensors_from_string(save_safetensors_to_string(tensors, meta), &loaded), tensors);
  EXPECT_EQ(loaded, meta);

  // No metadata: no "__metadata__" key is written, and a loaded map comes back empty.
  const std::string bytes = save_safetensors_to_string(tensors);
  EXPECT_EQ(bytes.find("__metadata__"), std::string::npos);
  load_safetensors_from_string(bytes, &loaded);
  EXPECT_TRUE(loaded.empty());
}

TEST_F(SafetensorsTest, EmptyStateDict) {
  Metadata meta;
  EXPECT_TRUE(load_safetensors_from_string(save_safetensors_to_string({}, {{"k", "v"}}), &meta).empty());
  EXPECT_EQ(meta, (Metadata{{"k", "v"}}));
  EXPECT_TRUE(load_safetensors_from_string(save_safetensors_to_string({})).empty());
}

TEST_F(SafetensorsTest, LayoutIsPaddedAlignedAndDense) {
  const std::string bytes = save_safetensors_to_string(every_dtype(), {{"m", "odd length"}});
  const uint64_t n = read_u64_le(bytes);
  EXPECT_EQ(n % 8, 0u);
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.front(), '{');
  const auto last = header.find_last_not_of(' ');
  EXPECT_EQ(header[last], '}');
  const auto j = nlohmann::json::parse(header);
  uint64_t total = 0;
  for (const auto& [name, info] : j.items()) {
    if (name == "__metadata__") continue;
    const auto begin = info["data_offsets"][0].get<uint64_t>();
    const auto end = info["data_offsets"][1].get<uint64_t>();
    const std::size_t size = itemsize(every_dtype().at(name).dtype());
    EXPECT_EQ(begin % size, 0u) << name << " is not aligned to its itemsize";
    total += end - begin;
  }
  EXPECT_EQ(8 + n + total, bytes.size());
}

TEST_F(SafetensorsTest, LoadedTensorsOwnTheirMemory) {
  StateDict loaded;
  {
    std::string bytes = save_safetensors_to_string({{"x", tensor<float>({1, 2, 3})}});
    loaded = load_safetensors_from_string(bytes);
    std::fill(bytes.begin(), bytes.end(), '\xff');
  }
  EXPECT_EQ(loaded.at("x").to_vector<float>(), (std::vector<float>{1, 2, 3}));
  loaded.at("x").add_(1.0);  // writable
  EXPECT_EQ(loaded.at("x").to_vector<float>(), (std::vector<float>{2, 3, 4}));
}

TEST_F(SafetensorsTest, BoolBytesOtherThanOneReadAsTrue) {
  const std::string bytes =
      file_bytes(R"({"b":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})", std::string("\x00\x02\xff", 3));
  const Tensor b = load_safetensors_from_string(bytes).at("b");
  EXPECT_EQ(raw_bytes(b), std::string("\x00\x01\x01", 3));
}

TEST_F(SafetensorsTest, AcceptsWhatTheReferenceAccepts) {
  // Whitespace around the JSON, unknown fields in an entry, zero-sized tensors anywhere in the buffer.
  const std::string header =
      " \n{\"z\":{\"dtype\":\"U8\",\"shape\":[0,5],\"data_offsets\":[1,1],\"note\":[1]},"
      "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
      "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}\t\r\n ";
  const StateDict d = load_safetensors_from_string(file_bytes(header, "xy"));
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(d.at("z").shape(), (Shape{0, 5}));
  EXPECT_EQ(raw_bytes(d.at("b")), "y");
}

// --- saving: bad input and atomic writes ----------------------------------------------------------

using volt::testing::error_of;

TEST_F(SafetensorsTest, SaveRejectsBadInput) {
  const fs::path file = dir_ / "bad.safetensors";
  EXPECT_NE(error_of([&] {
              save_safetensors(file.string(), {{"__metadata__", ones({1})}});
            }).find("reserved"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              save_safetensors(file.string(), {{"x", Tensor()}});
            }).find("\"x\" is undefined"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              save_safetensors(file.string(), {{"bad\xff", ones({1})}});
            }).find("UTF-8"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              save_safetensors(file.string(), {{"x", ones({1})}}, {{"k", "\xc3"}});
            }).find("UTF-8"),
            std::string::npos);
  EXPECT_TRUE(files_in_dir().empty());
}

TEST_F(SafetensorsTest, SaveIntoMissingDirectoryFailsAndCreatesNothing) {
  const fs::path missing = dir_ / "no_such_dir";
  const fs::path file = missing / "x.safetensors";
  const std::string msg = error_of([&] { save_safetensors(file.string(), {{"x", ones({2})}}); });
  EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(missing));
  EXPECT_TRUE(files_in_dir().empty());
}

TEST_F(SafetensorsTest, OverwriteReplacesWholeFileAndLeavesNoTemporaries) {
  const fs::path file = dir_ / "model.safetensors";
  save_safetensors(file.string(), {{"big", zeros({1000})}, {"other", ones({10})}}, {{"v", "1"}});
  const StateDict small = {{"small", tensor<float>({5})}};
  save_safetensors(file.string(), small);
  Metadata meta;
  expect_same_state(load_safetensors(file.string(), &meta), small);
  EXPECT_TRUE(meta.empty());
  EXPECT_EQ(read_file(file), save_safetensors_to_string(small));  // nothing of the old file remains
  EXPECT_EQ(files_in_dir(), (std::set<std::string>{"model.safetensors"}));
}

TEST_F(SafetensorsTest, FailedRenameRemovesTemporary) {
  const fs::path target = dir_ / "is_a_directory";
  fs::create_directory(target);
  fs::create_directory(target / "child");  // renaming a file over a non-empty directory always fails
  const std::string msg = error_of([&] { save_safetensors(target.string(), {{"x", ones({2})}}); });
  EXPECT_NE(msg.find("rename"), std::string::npos) << msg;
  EXPECT_EQ(files_in_dir(), (std::set<std::string>{"is_a_directory"}));
  EXPECT_TRUE(fs::is_directory(target / "child"));
}

// A write that fails midway (the file size limit stands in for a full disk) leaves the old file intact.
TEST_F(SafetensorsTest, WriteFailingMidwayLeavesTargetUntouched) {
  const fs::path file = dir_ / "model.safetensors";
  const StateDict old_state = {{"w", tensor<float>({1, 2, 3})}};
  save_safetensors(file.string(), old_state);
  const std::string old_bytes = read_file(file);

  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < 4096) GTEST_SKIP() << "file size limit already tiny";
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &previous), 0);
  rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string msg;
  try {
    save_safetensors(file.string(), {{"big", zeros({100000})}});
  } catch (const Error& e) {
    msg = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::sigaction(SIGXFSZ, &previous, nullptr);

  EXPECT_NE(msg.find("writing"), std::string::npos) << msg;
  EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
  EXPECT_EQ(read_file(file), old_bytes);
  EXPECT_EQ(files_in_dir(), (std::set<std::string>{"model.safetensors"}));
  expect_same_state(load_safetensors(file.string()), old_state);
}

// --- loading: malformed files ---------------------------------------------------------------------

struct BadFile {
  const char* what;
  std::string bytes;
  const char* expected;  // a piece of the error message
};

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":" + dtype + ",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

std::vector<BadFile> bad_files() {
  const std::string u8x4 = entry("t", "\"U8\"", "[4]", "[0,4]");
  std::string deep_shape = "[";
  for (int i = 0; i < 64; ++i)
    deep_shape += "1,";
  deep_shape += "1]";
  return {
      {"empty file", "", "too short"},
      {"shorter than 8 bytes", "abc", "too short"},
      {"header length past the end", u64_le(100) + "{}", "runs past the end"},
      {"huge header length", u64_le(uint64_t{1} << 63) + "{}      ", "runs past the end"},
      {"zero-length header", file_bytes(""), "not valid JSON"},
      {"header not JSON", file_bytes("{not json"), "not valid JSON"},
      {"trailing garbage after JSON", file_bytes("{} x"), "not valid JSON"},
      {"header not UTF-8", file_bytes("{\"\xff\":1}"), "not valid JSON"},
      {"header an array", file_bytes("[1, 2]"), "must be a JSON object"},
      {"header a string", file_bytes("\"s\""), "must be a JSON object"},
      {"entry not an object", file_bytes("{\"t\":5}"), "entry must be an object"},
      {"missing dtype", file_bytes(R"({"t":{"shape":[4],"data_offsets":[0,4]}})", "abcd"), "no \"dtype\""},
      {"missing shape", file_bytes(R"({"t":{"dtype":"U8","data_offsets":[0,4]}})", "abcd"), "no \"shape\""},
      {"missing data_offsets", file_bytes(R"({"t":{"dtype":"U8","shape":[4]}})", "abcd"), "no \"data_offsets\""},
      {"dtype not a string", file_bytes("{" + entry("t", "8", "[4]", "[0,4]") + "}", "abcd"),
       "\"dtype\" must be a string"},
      {"unknown dtype", file_bytes("{" + entry("t", "\"I8\"", "[4]", "[0,4]") + "}", "abcd"), "unsupported dtype"},
      {"lower-case dtype", file_bytes("{" + entry("t", "\"f32\"", "[1]", "[0,4]") + "}", "abcd"), "unsupported dtype"},
      {"shape not an array", file_bytes("{" + entry("t", "\"U8\"", "4", "[0,4]") + "}", "abcd"),
       "\"shape\" must be an array"},
      {"negative shape", file_bytes("{" + entry("t", "\"U8\"", "[-4]", "[0,4]") + "}", "abcd"), "negative"},
      {"fractional shape", file_bytes("{" + entry("t", "\"U8\"", "[4.0]", "[0,4]") + "}", "abcd"),
       "non-negative integer"},
      {"string in shape", file_bytes("{" + entry("t", "\"U8\"", "[\"4\"]", "[0,4]") + "}", "abcd"),
       "non-negative integer"},
      {"shape beyond int64", file_bytes("{" + entry("t", "\"U8\"", "[18446744073709551615]", "[0,4]") + "}", "abcd"),
       "larger than"},
      {"shape beyond uint64", file_bytes("{" + entry("t", "\"U8\"", "[1e300]", "[0,4]") + "}", "abcd"),
       "non-negative integer"},
      {"shape product overflows",
       file_bytes("{" + entry("t", "\"F32\"", "[4294967296,4294967296]", "[0,4]") + "}", "abcd"), "more bytes than"},
      {"byte size overflows", file_bytes("{" + entry("t", "\"F64\"", "[2305843009213693952]", "[0,4]") + "}", "abcd"),
       "more bytes than"},
      {"too many dimensions", file_bytes("{" + entry("t", "\"U8\"", deep_shape, "[0,1]") + "}", "a"), "dimensions"},
      {"nested shape", file_bytes("{" + entry("t", "\"U8\"", "[[4]]", "[0,4]") + "}", "abcd"), "nests"},
      {"data_offsets one number", file_bytes("{" + entry("t", "\"U8\"", "[4]", "[4]") + "}", "abcd"),
       "must be an array [begin, end]"},
      {"data_offsets three numbers", file_bytes("{" + entry("t", "\"U8\"", "[4]", "[0,4,4]") + "}", "abcd"),
       "must be an array [begin, end]"},
      {"data_offsets an object", file_bytes("{" + entry("t", "\"U8\"", "[4]", "{\"a\":0}") + "}", "abcd"),
       "must be an array [begin, end]"},
      {"data_offsets negative", file_bytes("{" + entry("t", "\"U8\"", "[4]", "[-1,3]") + "}", "abcd"), "negative"},
      {"data_offsets string", file_bytes("{" + entry("t", "\"U8\"", "[4]", "[0,\"4\"]") + "}", "abcd"),
       "non-negative integer"},
      {"data_offsets past the buffer", file_bytes("{" + entry("t", "\"U8\"", "[4]", "[0,400]") + "}", "abcd"),
       "run past the 4-byte data buffer"},
      {"data_offsets huge",
       file_bytes("{" + entry("t", "\"U8\"", "[4]", "[18446744073709551611,18446744073709551615]") + "}", "abcd"),
       "run past"},
      {"begin after end", file_bytes("{" + entry("t", "\"U8\"", "[4]", "[4,0]") + "}", "abcd"),
       "end before they begin"},
      {"size disagrees with shape", file_bytes("{" + entry("t", "\"F32\"", "[2]", "[0,4]") + "}", "abcd"), "needs 8"},
      {"size disagrees with shape (larger)", file_bytes("{" + entry("t", "\"U8\"", "[2]", "[0,4]") + "}", "abcd"),
       "needs 2"},
      {"overlapping tensors", file_bytes("{" + u8x4 + "," + entry("u", "\"U8\"", "[4]", "[2,6]") + "}", "abcdef"),
       "overlap"},
      {"identical ranges", file_bytes("{" + u8x4 + "," + entry("u", "\"U8\"", "[4]", "[0,4]") + "}", "abcd"),
       "overlap"},
      {"gap between tensors",
       file_bytes("{" + entry("t", "\"U8\"", "[2]", "[0,2]") + "," + entry("u", "\"U8\"", "[2]", "[3,5]") + "}",
                  "abcde"),
       "bytes [2, 3) belong to no tensor"},
      {"gap at the start", file_bytes("{" + entry("t", "\"U8\"", "[2]", "[1,3]") + "}", "abc"), "belong to no tensor"},
      {"trailing bytes", file_bytes("{" + entry("t", "\"U8\"", "[2]", "[0,2]") + "}", "abc"), "trailing bytes"},
      {"buffer without tensors", file_bytes("{}", "abc"), "trailing bytes"},
      {"duplicate names", file_bytes("{" + u8x4 + "," + u8x4 + "}", "abcd"), "more than once"},
      {"metadata an array", file_bytes(R"({"__metadata__":["a"]})"), "must be an object of strings"},
      {"metadata a string", file_bytes(R"({"__metadata__":"a"})"), "must be an object of strings"},
      {"metadata value a number", file_bytes(R"({"__metadata__":{"a":"b","c":1}})"),
       "value for \"c\" must be a string"},
      {"metadata value an object", file_bytes(R"({"__metadata__":{"a":{}}})"), "value for \"a\" must be a string"},
      {"metadata value null", file_bytes(R"({"__metadata__":{"a":null}})"), "must be a string"},
  };
}

TEST_F(SafetensorsTest, MalformedFilesGiveErrorsNamingFileAndProblem) {
  int i = 0;
  for (const BadFile& bad : bad_files()) {
    const fs::path file = dir_ / ("bad" + std::to_string(i++) + ".safetensors");
    write_file(file, bad.bytes);
    const std::string msg = error_of([&] { load_safetensors(file.string()); });
    EXPECT_NE(msg.find(file.string()), std::string::npos) << bad.what << ": " << msg;
    EXPECT_NE(msg.find(bad.expected), std::string::npos) << bad.what << ": " << msg;
    // The in-memory reader applies the same checks.
    const std::string mem = error_of([&] { load_safetensors_from_string(bad.bytes); });
    EXPECT_NE(mem.find("in-memory buffer"), std::string::npos) << bad.what << ": " << mem;
    EXPECT_NE(mem.find(bad.expected), std::string::npos) << bad.what << ": " << mem;
  }
}

TEST_F(SafetensorsTest, TruncatedValidFileIsRejected) {
  const std::string good = save_safetensors_to_string(every_dtype());
  // Every proper prefix of a valid file is malformed.
  for (std::size_t n = 0; n < good.size(); n += 7) {
    const std::string msg = error_of([&] { load_safetensors_from_string(std::string_view(good).substr(0, n)); });
    EXPECT_NE(msg.find("load_safetensors"), std::string::npos) << n << ": " << msg;
  }
}

// Every single-byte change of a valid file either loads or gives a volt::Error; nothing else escapes.
TEST_F(SafetensorsTest, MutatedFilesLoadOrGiveVoltErrors) {
  const std::string good = save_safetensors_to_string(reference_tensors(), {{"k", "v"}});
  int errors = 0;
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (unsigned char value : {0x00, 0x01, 0x22, 0x2c, 0x30, 0x39, 0x5b, 0x5d, 0x7b, 0x7d, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(value);
      try {
        load_safetensors_from_string(bad);
      } catch (const Error&) {
        ++errors;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "byte " << i << " = " << int(value) << ": " << typeid(e).name() << ": " << e.what();
      }
    }
  }
  EXPECT_GT(errors, 0);
}

TEST_F(SafetensorsTest, LoadErrorsForMissingFileAndDirectory) {
  const fs::path missing = dir_ / "missing.safetensors";
  std::string msg = error_of([&] { load_safetensors(missing.string()); });
  EXPECT_NE(msg.find(missing.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
  msg = error_of([&] { load_safetensors(dir_.string()); });
  EXPECT_NE(msg.find("not a regular file"), std::string::npos) << msg;
}

TEST_F(SafetensorsTest, ErrorMessagesCutLongNamesShort) {
  const std::string name(10000, 'n');
  const std::string msg = error_of(
      [&] { load_safetensors_from_string(file_bytes("{" + entry(name, "\"X\"", "[1]", "[0,1]") + "}", "a")); });
  EXPECT_NE(msg.find("unsupported dtype"), std::string::npos);
  EXPECT_LT(msg.size(), 400u) << msg;
}

// --- load_state_dict of a loaded file (found by tests/fuzz/state_dict_fuzzer) --------------------

// A module with integer buffers beside a floating parameter, as BatchNorm's num_batches_tracked.
struct WithIntegerBuffers : Module {
  WithIntegerBuffers() {
    register_parameter("weight", zeros({2}));
    register_buffer("steps", zeros({}, TensorOptions(DType::i64)));
    register_buffer("count", zeros({2}, TensorOptions(DType::i32)));
    register_buffer("mask", zeros({2}, TensorOptions(DType::u8)));
  }
};

// The fuzzer's file, cut down: an F64 scalar 4.27e180 for the i64 buffer. Converting it was
// undefined behaviour in the cast kernel (UBSan: "outside the range of representable values").
TEST_F(SafetensorsTest, LoadStateDictRefusesFloatsAnIntegerBufferCannotHold) {
  const std::string header = R"({"steps":{"dtype":"F64","shape":[],"data_offsets":[0,8]}})";
  std::string buffer(8, '\0');
  const double found = 4.27256e+180;
  std::memcpy(buffer.data(), &found, 8);
  const StateDict state = load_safetensors_from_string(file_bytes(header, buffer));
  for (const bool strict : {true, false}) {
    WithIntegerBuffers m;
    const std::string msg = error_of([&] { m.load_state_dict(state, strict); });
    EXPECT_NE(msg.find("value out of range for steps"), std::string::npos) << msg;
    EXPECT_NE(msg.find("f64 holds 4.27256e+180"), std::string::npos) << msg;
    EXPECT_NE(msg.find("i64 cannot hold"), std::string::npos) << msg;
  }

  // Each value at the edges of each integer dtype, alone in an otherwise fitting state dict; the
  // module is left as it was when one is refused.
  const double two63 = std::ldexp(1.0, 63), two31 = std::ldexp(1.0, 31);
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  struct Case {
    const char* name;
    Tensor value;
    bool fits;
  };
  const std::vector<Case> cases = {
      {"steps", tensor<double>({-two63}).reshape({}), true},
      {"steps", tensor<double>({two63}).reshape({}), false},
      {"steps", tensor<float>({static_cast<float>(nan)}).reshape({}), false},
      {"steps", tensor<float>({-1e30f}).reshape({}), false},
      {"steps", tensor<double>({-9.9}).reshape({}), true},
      {"count", tensor<double>({two31 - 0.5, -two31 - 0.5}), true},
      {"count", tensor<double>({0, two31}), false},
      {"count", tensor<float>({1.0f, -static_cast<float>(inf)}).to(DType::f16), false},
      {"count", tensor<float>({1.0f, -2.0f}).to(DType::bf16), true},
      {"mask", tensor<float>({255.9f, -0.9f}), true},
      {"mask", tensor<float>({256.0f, 0.0f}), false},
      {"mask", tensor<float>({-1.0f, 0.0f}), false},
      {"mask", tensor<int64_t>({300, -1}), true},  // integer to integer: defined (modular), as in PyTorch
  };
  for (const Case& c : cases) {
    WithIntegerBuffers m;
    StateDict state = m.state_dict();
    for (auto& [name, t] : state)
      t = t.clone();
    const StateDict before = state;
    state[c.name] = c.value;
    const std::string msg = error_of([&] { m.load_state_dict(state); });
    if (c.fits) {
      EXPECT_EQ(msg, "(no volt::Error thrown)") << c.name << " " << c.value;
      continue;
    }
    EXPECT_NE(msg.find(std::string("value out of range for ") + c.name), std::string::npos) << msg;
    for (const auto& [name, t] : m.state_dict())
      expect_identical(t, before.at(name), name);
  }
}

}  // namespace
}  // namespace volt::nn
