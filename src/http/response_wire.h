// A message's bytes on the wire: start line, fields in order, blank line, body — what Beast's
// serializer writes for a message whose payload was prepared (Content-Length set), in one pass
// into one buffer. Beast's serializer walks a chain of buffer views per field and costs several
// times more than the copy itself (≈ 8k instructions for a 550-byte answer, ≈ 18k for a write
// of a provider request through its composed write); the server's non-streamed responses and the
// upstream client's requests go through here and out with one plain write. A message with
// chunked transfer coding is left to Beast's serializer.
#pragma once

#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).

#include <string>

#include <boost/beast/http.hpp>
#include <boost/system/error_code.hpp>

namespace mangaassist::http {

// Replace `out` with the message as it goes on the wire. `out` keeps its capacity, so a
// connection can reuse one buffer. The error is Beast's, from the chunked fallback only.
boost::system::error_code SerializeResponse(
    const boost::beast::http::response<boost::beast::http::string_body>& res, std::string* out);
boost::system::error_code SerializeRequest(
    const boost::beast::http::request<boost::beast::http::string_body>& req, std::string* out);

}  // namespace mangaassist::http
