// The one error type of the Label Studio layer: a message for the annotator and the HTTP
// status the server answers with (400 bad request, 403 forbidden path, 422 unusable prompt
// or label config). The server turns it into {"error": message}.
#pragma once

#include <stdexcept>
#include <string>

namespace sam::ls {

class RequestError : public std::runtime_error {
public:
    RequestError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
    int status() const { return status_; }

private:
    int status_;
};

}  // namespace sam::ls
