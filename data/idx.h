// IDX files (the format of MNIST and Fashion-MNIST), raw or gzip-compressed.
//
// Layout, big-endian throughout: magic 00 00 <type> <ndims>; ndims u32 sizes; the elements in
// row-major order. Types: 0x08 u8, 0x0C i32, 0x0D f32, 0x0E f64 map to volt dtypes; 0x09 (i8)
// and 0x0B (i16) are valid IDX but volt has no such dtype, so they are refused by name.
//
// Header numbers are untrusted: nothing is allocated from them until they have been checked
// against the actual (decompressed) length. A gzip stream is therefore inflated twice: once to
// validate it and count its output (stopping past `max_bytes`, whatever the gzip trailer
// claims) while keeping only the header, and once into memory of the exact size. The memory a
// decode needs at its peak is the result plus a few hundred KiB, never a copy beside it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "volt/core/tensor.h"

namespace volt::data {

// Largest IDX payload volt reads (raw file size, or decompressed size): 1 GiB.
inline constexpr std::size_t kMaxIdxBytes = std::size_t{1} << 30;
// Most dimensions an IDX header may declare. The format's byte allows 255; real files use 1-4.
inline constexpr int kMaxIdxDims = 8;

// Parses uncompressed IDX bytes into a new CPU tensor with the file's shape and dtype.
// `name` (usually the path) is quoted in every error. A size of 0 yields an empty tensor; the
// other sizes must still be such that their byte size, counting zeros as 1, fits in int64.
Tensor parse_idx(std::span<const uint8_t> bytes, const std::string& name);

// Inflates one or more concatenated gzip members into a vector of exactly their size (two
// passes, see above). Throws, naming `name`, on a truncated or corrupt stream, on trailing
// bytes that are not another member, or past `max_bytes` of output, before allocating it.
std::vector<uint8_t> gunzip(std::span<const uint8_t> bytes, const std::string& name,
                            std::size_t max_bytes = kMaxIdxBytes);

// True when `bytes` begin with the gzip magic 1f 8b.
bool is_gzip(std::span<const uint8_t> bytes);

// parse_idx after gunzip when the bytes are gzip (detected by magic, not by file name), without
// holding the decompressed bytes: the tensor is inflated into directly. `max_bytes` caps the
// decompressed size (header included); raw bytes are taken as they are.
Tensor decode_idx(std::span<const uint8_t> bytes, const std::string& name, std::size_t max_bytes = kMaxIdxBytes);

// Reads an IDX file, raw or gzip. Throws volt::Error naming `path` when it is missing,
// unreadable, larger than kMaxIdxBytes (raw or decompressed), or malformed. The file is read
// in chunks: neither it nor its decompressed bytes are held beside the tensor.
Tensor read_idx(const std::string& path);

}  // namespace volt::data
