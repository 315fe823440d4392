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
#include <string_view>

#include <boost/beast/http.hpp>
#include <boost/system/error_code.hpp>

namespace mangaassist::http {

// Replaces `out` with `res` as it goes on the wire. `out` keeps its capacity, so a
// connection can reuse one buffer. The error is Beast's, from the chunked fallback only.
boost::system::error_code SerializeResponse(
    const boost::beast::http::response<boost::beast::http::string_body>& res, std::string* out);

// The server's reply: `res` as the handler returned it, finished the way the server finishes
// every response — X-Request-Id set to `request_id`, keep-alive as given (Beast's keep_alive()),
// the payload prepared (Content-Length) — and written to `out`. Exactly the bytes of doing those
// three on the message and calling SerializeResponse, without the three field allocations and
// the Connection-token rewriting when the handler left those fields alone (the usual case);
// otherwise it does just that. May modify `res`.
boost::system::error_code SerializeReply(
    boost::beast::http::response<boost::beast::http::string_body>& res,
    std::string_view request_id, bool keep_alive, std::string* out);

}  // namespace mangaassist::http
