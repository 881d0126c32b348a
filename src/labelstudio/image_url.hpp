// Where a task's image comes from (DESIGN.md, "Images"). Pure string work: nothing here
// touches the network or the file system.
#pragma once

#include <cstdint>
#include <string>

namespace sam::ls {

struct ImageSource {
    enum class Kind { LocalFile, LabelStudio, Presign, Url } kind = Kind::Url;
    std::string location;    // LocalFile: absolute path inside the document root; others: the full URL to GET
    bool send_token = false;  // attach the Label Studio token (only for the Label Studio host)
};

struct UrlContext {
    std::string document_root;     // LOCAL_FILES_DOCUMENT_ROOT, may be empty
    std::string label_studio_url;  // e.g. http://localhost:8080 (no trailing slash), may be empty
    int64_t task_id = 0;
};

// - /data/local-files/?d=<path>: LocalFile <document_root>/<percent-decoded path> when
//   document_root is set (the path must be relative and stay inside the root after "..",
//   else 403; symlinks are not followed here); otherwise a LabelStudio download of the URL.
// - /data/upload/... and /storage-data/uploaded/?filepath=...: LabelStudio, label_studio_url + url.
// - s3://, gs://, azure-blob://: Presign,
//   <label_studio_url>/tasks/<task_id>/presign/?fileuri=<base64url of the URI, '=' padded>,
//   the encoding Label Studio's presign view decodes; the key may hold any character.
// - http(s)://...: Url; the token is sent only when scheme, host and port equal label_studio_url's.
// LabelStudio and Presign always send the token; LabelStudio URLs with a ".." segment (also
// percent-encoded) are refused (400), so the token cannot reach another Label Studio path.
// Throws RequestError: 400 for a malformed or unsupported URL, 403 for a path escaping the
// document root, 400 when Label Studio is needed but label_studio_url is empty (the message
// says to set LABEL_STUDIO_URL) or a presign has no task id.
ImageSource resolve_image_url(const std::string& url, const UrlContext& ctx);

// True when both are http(s) URLs with the same scheme, host and port (default ports filled
// in); false otherwise, also when either is not a valid http(s) URL.
bool is_same_origin(const std::string& url, const std::string& other);

}  // namespace sam::ls
