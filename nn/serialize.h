// Saving and loading named tensors in the safetensors format (https://github.com/huggingface/safetensors),
// readable and writable by the reference Python implementation.
//
// Layout of a file:
//   bytes [0, 8)        N, the header length, as a little-endian u64
//   bytes [8, 8+N)      the header: a JSON object, possibly padded at the end with spaces
//                         {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//                          "__metadata__": {"key": "value", ...}}
//   bytes [8+N, EOF)    the data buffer; each tensor's bytes are [begin, end) relative to its start,
//                       little-endian, row-major
//
// dtypes: F32 F64 F16 BF16 I32 I64 U8 BOOL <-> volt f32 f64 f16 bf16 i32 i64 u8 boolean. Files with other
// safetensors dtypes (I8, U16, F8_E4M3, ...) are rejected with an error naming the dtype.
//
// What save writes: the header padded with spaces to a multiple of 8 bytes, so the data buffer starts
// 8-byte aligned; tensors laid out by decreasing itemsize, then by name (as the reference does), so every
// tensor is aligned to its itemsize; no gaps. Tensors may be non-contiguous views (their values are written
// in row-major order) and may live on any device (they are copied to the CPU).
//
// What load accepts: the reference's rules for these dtypes. The tensors must cover the data buffer
// completely, without overlaps, gaps or trailing bytes (the reference's "metadata incomplete buffer" rule);
// each tensor's byte range must be exactly numel * itemsize. Whitespace around the JSON and unknown fields
// inside a tensor entry are accepted, as by the reference. Stricter than the reference: a name given twice
// in the header, a dimension above 2^63-1, a shape whose byte size (zero dims counted as 1) overflows int64,
// more than 64 dimensions, and headers above 100 MB (the reference's own limit) are rejected. Bytes of a
// BOOL tensor other than 0 are read as true (stored as 1), as NumPy reads them.
// Every malformed file gives a volt::Error naming the file and the problem, and nothing is allocated before
// its size has been checked against the real size of the file.
//
// Loaded tensors are contiguous CPU tensors that own their memory and do not require grad.
// Little-endian hosts only.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "volt/core/tensor.h"

namespace volt::nn {

// Named tensors, sorted by name: iteration order, and so everything derived from it, is deterministic.
using StateDict = std::map<std::string, Tensor>;
// Free-form string annotations stored in the header's "__metadata__".
using Metadata = std::map<std::string, std::string>;

// Writes `tensors` and `metadata` to `path` atomically: the bytes go to a temporary file next to `path`
// (`path` + ".tmp.<pid>.<n>"), which is flushed, fsync'ed, closed and then renamed over `path`. On any
// error the temporary file is removed, `path` is left as it was, and a volt::Error is thrown.
// A tensor may not be named "__metadata__"; names and metadata must be valid UTF-8.
void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata = {});

// Reads the file at `path`. When `metadata` is given, it is replaced by the file's "__metadata__" (empty
// if the file has none).
StateDict load_safetensors(const std::string& path, Metadata* metadata = nullptr);

// The same, to and from the bytes of a file held in memory.
std::string save_safetensors_to_string(const StateDict& tensors, const Metadata& metadata = {});
StateDict load_safetensors_from_string(std::string_view bytes, Metadata* metadata = nullptr);

}  // namespace volt::nn
