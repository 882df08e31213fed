#include "volt/nn/serialize.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace volt::nn {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; volt's serializer supports little-endian hosts only");

namespace {

using json = nlohmann::json;

constexpr const char* kMetadataKey = "__metadata__";
// The reference implementation refuses headers above 100 MB; so do we, before allocating one.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// NumPy's limit on dimensions; the reference has none, but no real tensor comes near it.
constexpr std::size_t kMaxRank = 64;

// --- dtypes ---------------------------------------------------------------------------------

const char* safetensors_dtype(DType t) {
  switch (t) {
    case DType::f32:
      return "F32";
    case DType::f64:
      return "F64";
    case DType::f16:
      return "F16";
    case DType::bf16:
      return "BF16";
    case DType::i32:
      return "I32";
    case DType::i64:
      return "I64";
    case DType::u8:
      return "U8";
    case DType::boolean:
      return "BOOL";
  }
  VOLT_FAIL("save_safetensors: unknown dtype ", static_cast<int>(t));
}

std::optional<DType> parse_safetensors_dtype(const std::string& s) {
  for (DType t : {DType::f32, DType::f64, DType::f16, DType::bf16, DType::i32, DType::i64, DType::u8, DType::boolean})
    if (s == safetensors_dtype(t)) return t;
  return std::nullopt;
}

// --- writing --------------------------------------------------------------------------------

void put_u64_le(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t get_u64_le(const unsigned char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(in[i]) << (8 * i);
  return v;
}

// What a save writes: the 8-byte length plus padded header, then each tensor's bytes in order.
struct Plan {
  std::string prefix;  // length + header
  std::vector<Tensor> tensors;
  uint64_t buffer_bytes = 0;
};

Plan plan_save(const char* op, const StateDict& tensors, const Metadata& metadata) {
  struct Item {
    const std::string* name;
    Tensor tensor;  // contiguous, on the CPU
  };
  std::vector<Item> items;
  items.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    VOLT_CHECK(name != kMetadataKey, op, ": a tensor cannot be named \"", kMetadataKey,
               "\" (the key is reserved for metadata)");
    VOLT_CHECK(t.defined(), op, ": tensor \"", name, "\" is undefined");
    items.push_back({&name, t.detach().to(Device::cpu()).contiguous()});
  }
  // Largest itemsize first, then by name, as the reference does: with the 8-byte aligned buffer start,
  // every tensor is aligned to its itemsize.
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return itemsize(a.tensor.dtype()) > itemsize(b.tensor.dtype());
  });

  json header = json::object();
  if (!metadata.empty()) {
    json m = json::object();
    for (const auto& [k, v] : metadata)
      m[k] = v;
    header[kMetadataKey] = std::move(m);
  }
  Plan plan;
  for (const Item& item : items) {
    const uint64_t begin = plan.buffer_bytes;
    plan.buffer_bytes += item.tensor.nbytes();
    header[*item.name] = {{"dtype", safetensors_dtype(item.tensor.dtype())},
                          {"shape", item.tensor.shape()},
                          {"data_offsets", {begin, plan.buffer_bytes}}};
    plan.tensors.push_back(item.tensor);
  }

  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    VOLT_FAIL(op, ": tensor names and metadata must be valid UTF-8: ", e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  plan.prefix.resize(8);
  put_u64_le(plan.prefix.data(), text.size());
  plan.prefix += text;
  return plan;
}

std::string errno_text(int err) { return std::strerror(err); }

// Writes all of [data, data+n) to fd, retrying partial writes and EINTR.
void write_all(int fd, const void* data, std::size_t n, const std::string& where) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, std::min<std::size_t>(n, std::size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      VOLT_FAIL("save_safetensors: writing ", where, " failed: ", errno_text(errno));
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

std::string temp_path_for(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
}

// Durability of the rename itself: fsync the directory that holds `path`. Best effort; the data is
// already complete and in place, so a failure here is not reported.
void sync_parent_directory(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

// --- reading --------------------------------------------------------------------------------

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

struct Header {
  std::vector<Entry> entries;
  Metadata metadata;
};

// Reads n bytes at `offset` into dst; throws if the source ends first.
using ReadAt = std::function<void(uint64_t offset, void* dst, std::size_t n)>;

template <class... Args>
[[noreturn]] void malformed(const std::string& source, const Args&... args) {
  VOLT_FAIL("load_safetensors: ", source, ": ", args...);
}

// A JSON value for an error message, cut short: it comes from an untrusted file.
std::string excerpt(const json& v) {
  std::string s = v.dump();
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

// A name from the file, quoted for an error message and cut short.
std::string quote(std::string_view name) {
  std::string out = "\"";
  out.append(name.substr(0, name.size() > 80 ? 77 : name.size()));
  out.append(name.size() > 80 ? "...\"" : "\"");
  return out;
}

// A non-negative JSON integer that fits `limit`, or an error naming `what`.
uint64_t json_uint(const json& v, uint64_t limit, const std::string& source, const std::string& what) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > limit) malformed(source, what, " is ", u, ", larger than the largest allowed value ", limit);
    return u;
  }
  if (v.is_number_integer()) malformed(source, what, " is negative (", excerpt(v), ")");
  malformed(source, what, " must be a non-negative integer, got ", excerpt(v));
}

Header parse_header(std::string_view text, uint64_t buffer_bytes, const std::string& source) {
  // The callback keeps the parse shallow (an entry's shape is the deepest legitimate value, at depth 2)
  // so no adversarial nesting reaches the tree, and spots duplicate top-level names.
  std::set<std::string> names;
  std::string duplicate;
  bool too_deep = false;
  const auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) && depth > 2) {
      too_deep = true;
      return false;
    }
    if (event == json::parse_event_t::key && depth == 1 && !names.insert(parsed.get<std::string>()).second &&
        duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  json root;
  try {
    root = json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    malformed(source, "header is not valid JSON: ", e.what());
  }
  if (!root.is_object()) malformed(source, "header must be a JSON object, got ", root.type_name());
  if (too_deep) malformed(source, "header nests JSON values deeper than a safetensors header does");
  if (!duplicate.empty()) malformed(source, "header names ", quote(duplicate), " more than once");

  Header h;
  for (const auto& [name, info] : root.items()) {
    if (name == kMetadataKey) {
      if (!info.is_object())
        malformed(source, "\"", kMetadataKey, "\" must be an object of strings, got ", info.type_name());
      for (const auto& [k, v] : info.items()) {
        if (!v.is_string())
          malformed(source, "\"", kMetadataKey, "\" value for ", quote(k), " must be a string, got ", v.type_name());
        h.metadata.emplace(k, v.get<std::string>());
      }
      continue;
    }
    const std::string what = "tensor " + quote(name);
    if (!info.is_object()) malformed(source, what, ": entry must be an object, got ", info.type_name());
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!info.contains(field)) malformed(source, what, ": entry has no \"", field, "\"");

    Entry e;
    e.name = name;
    const json& dtype = info.at("dtype");
    if (!dtype.is_string()) malformed(source, what, ": \"dtype\" must be a string, got ", dtype.type_name());
    const auto parsed_dtype = parse_safetensors_dtype(dtype.get<std::string>());
    if (!parsed_dtype)
      malformed(source, what, ": unsupported dtype ", excerpt(dtype), " (volt reads F32 F64 F16 BF16 I32 I64 U8 BOOL)");
    e.dtype = *parsed_dtype;

    const json& shape = info.at("shape");
    if (!shape.is_array()) malformed(source, what, ": \"shape\" must be an array, got ", shape.type_name());
    if (shape.size() > kMaxRank)
      malformed(source, what, ": shape has ", shape.size(), " dimensions, more than the ", kMaxRank, " volt accepts");
    // Sizes must fit volt's int64 shapes, and so must the element count and the byte size; zero-sized dims
    // are counted as 1 here so that no product anywhere can overflow.
    constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    uint64_t numel = 1;
    uint64_t bounded = itemsize(e.dtype);
    for (std::size_t d = 0; d < shape.size(); ++d) {
      const uint64_t s = json_uint(shape[d], kMax, source, what + ": shape[" + std::to_string(d) + "]");
      e.shape.push_back(static_cast<int64_t>(s));
      numel *= s;  // cannot overflow: bounded by `bounded` below
      if (s > 1 && bounded > kMax / s)
        malformed(source, what, ": shape ", excerpt(shape), " has more bytes than a 64-bit size can hold");
      bounded *= std::max<uint64_t>(s, 1);
    }
    const uint64_t nbytes = numel * itemsize(e.dtype);

    const json& offsets = info.at("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2)
      malformed(source, what, ": \"data_offsets\" must be an array [begin, end], got ", excerpt(offsets));
    e.begin = json_uint(offsets[0], std::numeric_limits<uint64_t>::max(), source, what + ": data_offsets begin");
    e.end = json_uint(offsets[1], std::numeric_limits<uint64_t>::max(), source, what + ": data_offsets end");
    if (e.begin > e.end) malformed(source, what, ": data_offsets [", e.begin, ", ", e.end, "] end before they begin");
    if (e.end > buffer_bytes)
      malformed(source, what, ": data_offsets [", e.begin, ", ", e.end, "] run past the ", buffer_bytes,
                "-byte data buffer");
    if (e.end - e.begin != nbytes)
      malformed(source, what, ": data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin, " bytes, but ",
                dtype.get<std::string>(), excerpt(shape), " needs ", nbytes);
    h.entries.push_back(std::move(e));
  }

  // The tensors must tile the buffer exactly: no overlaps, no gaps, nothing after the last one.
  std::vector<const Entry*> by_offset;
  for (const Entry& e : h.entries)
    by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return std::pair(a->begin, a->end) < std::pair(b->begin, b->end); });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry* e : by_offset) {
    if (e->begin < covered)
      malformed(source, "tensors ", quote(previous->name), " and ", quote(e->name), " overlap in the data buffer");
    if (e->begin > covered) malformed(source, "data buffer bytes [", covered, ", ", e->begin, ") belong to no tensor");
    covered = e->end;
    previous = e;
  }
  if (covered != buffer_bytes)
    malformed(source, "data buffer is ", buffer_bytes, " bytes but its tensors cover only ", covered,
              " (trailing bytes are not allowed)");
  return h;
}

StateDict load_impl(uint64_t total_bytes, const ReadAt& read_at, Metadata* metadata, const std::string& source) {
  if (total_bytes < 8) malformed(source, "file is ", total_bytes, " bytes, too short for the 8-byte header length");
  unsigned char len_bytes[8];
  read_at(0, len_bytes, 8);
  const uint64_t header_bytes = get_u64_le(len_bytes);
  if (header_bytes > total_bytes - 8)
    malformed(source, "header length ", header_bytes, " runs past the end of the ", total_bytes, "-byte file");
  if (header_bytes > kMaxHeaderBytes)
    malformed(source, "header length ", header_bytes, " exceeds the limit of ", kMaxHeaderBytes, " bytes");
  std::string text(header_bytes, '\0');
  read_at(8, text.data(), text.size());
  const uint64_t buffer_start = 8 + header_bytes;
  Header h = parse_header(text, total_bytes - buffer_start, source);

  StateDict out;
  for (const Entry& e : h.entries) {
    Tensor t = empty(e.shape, e.dtype);
    read_at(buffer_start + e.begin, t.data_ptr(), t.nbytes());
    if (e.dtype == DType::boolean) {
      auto* p = static_cast<unsigned char*>(t.data_ptr());
      for (std::size_t i = 0; i < t.nbytes(); ++i)
        p[i] = p[i] != 0;
    }
    out.emplace(e.name, std::move(t));
  }
  if (metadata) *metadata = std::move(h.metadata);
  return out;
}

// Owns a file descriptor.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

// --- public API -------------------------------------------------------------------------------

std::string save_safetensors_to_string(const StateDict& tensors, const Metadata& metadata) {
  const Plan plan = plan_save("save_safetensors_to_string", tensors, metadata);
  std::string out = plan.prefix;
  out.reserve(plan.prefix.size() + plan.buffer_bytes);
  for (const Tensor& t : plan.tensors)
    if (t.nbytes() > 0) out.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  return out;
}

void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata) {
  const Plan plan = plan_save("save_safetensors", tensors, metadata);
  const std::string tmp = temp_path_for(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  VOLT_CHECK(fd >= 0, "save_safetensors: cannot create '", tmp, "' to write '", path, "': ", errno_text(errno));
  bool open = true;
  try {
    const std::string where = "'" + tmp + "' (for '" + path + "')";
    write_all(fd, plan.prefix.data(), plan.prefix.size(), where);
    for (const Tensor& t : plan.tensors)
      write_all(fd, t.data_ptr(), t.nbytes(), where);
    VOLT_CHECK(::fsync(fd) == 0, "save_safetensors: fsync of ", where, " failed: ", errno_text(errno));
    open = false;
    VOLT_CHECK(::close(fd) == 0, "save_safetensors: closing ", where, " failed: ", errno_text(errno));
    VOLT_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "save_safetensors: cannot rename '", tmp, "' to '", path,
               "': ", errno_text(errno));
  } catch (...) {
    if (open) ::close(fd);
    std::remove(tmp.c_str());
    throw;
  }
  sync_parent_directory(path);
}

StateDict load_safetensors_from_string(std::string_view bytes, Metadata* metadata) {
  const std::string source = "<in-memory buffer of " + std::to_string(bytes.size()) + " bytes>";
  const ReadAt read_at = [&](uint64_t offset, void* dst, std::size_t n) {
    // Offsets were validated against bytes.size() by load_impl.
    if (n > 0) std::memcpy(dst, bytes.data() + offset, n);
  };
  return load_impl(bytes.size(), read_at, metadata, source);
}

StateDict load_safetensors(const std::string& path, Metadata* metadata) {
  const std::string source = "'" + path + "'";
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) VOLT_FAIL("load_safetensors: cannot open ", source, ": ", errno_text(errno));
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) VOLT_FAIL("load_safetensors: cannot stat ", source, ": ", errno_text(errno));
  if (!S_ISREG(st.st_mode)) malformed(source, "not a regular file");
  const ReadAt read_at = [&](uint64_t offset, void* dst, std::size_t n) {
    char* p = static_cast<char*>(dst);
    while (n > 0) {
      const ssize_t r = ::pread(file.fd, p, std::min<std::size_t>(n, std::size_t{1} << 30), static_cast<off_t>(offset));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) VOLT_FAIL("load_safetensors: reading ", source, " failed: ", errno_text(errno));
      if (r == 0) malformed(source, "file ended early at byte ", offset, " (was it truncated while being read?)");
      p += r;
      n -= static_cast<std::size_t>(r);
      offset += static_cast<uint64_t>(r);
    }
  };
  return load_impl(static_cast<uint64_t>(st.st_size), read_at, metadata, source);
}

}  // namespace volt::nn
