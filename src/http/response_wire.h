// A response's bytes on the wire: status line, fields in order, blank line, body — what Beast's
// response_serializer writes for a message whose payload was prepared (Content-Length set), in
// one pass into one buffer. Beast's serializer walks a chain of buffer views per field and costs
// several times more than the copy itself (≈ 8k instructions for a 550-byte answer); every
// non-streamed response of the server goes through here and out with one plain write. A
// response with chunked transfer coding is left to Beast's serializer. (The upstream client
// writes its requests' bytes directly: http/upstream_client.cc, BuildRequest.)
#pragma once

#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).

#include <string>

#include <boost/beast/http.hpp>
#include <boost/system/error_code.hpp>

namespace mangaassist::http {

// Replaces `out` with `res` as it goes on the wire. `out` keeps its capacity, so a
// connection can reuse one buffer. The error is Beast's, from the chunked fallback only.
boost::system::error_code SerializeResponse(
    const boost::beast::http::response<boost::beast::http::string_body>& res, std::string* out);

}  // namespace mangaassist::http
