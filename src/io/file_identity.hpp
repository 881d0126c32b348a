// Content identities: names for bytes that change whenever the bytes do, cheap enough to compute
// at every start. Used to key embeddings shared between processes by the weights that made them.
#pragma once

#include <cstddef>
#include <string>

#include "io/zip_archive.hpp"

namespace sam::io {

// SHA-256 of the bytes, 64 lowercase hex digits.
std::string sha256_hex(const void* data, size_t size);

// A zip archive's identity from its central directory alone (no data is read): each entry's
// name below the archive's top folder (torch.save names that folder after the file), CRC-32,
// sizes and method, hashed with SHA-256; 32 hex digits. A changed tensor changes its entry's
// CRC-32 (the writer computes it over the data), a renamed copy of the file keeps the identity.
std::string zip_content_id(const ZipArchive& zip);

}  // namespace sam::io
