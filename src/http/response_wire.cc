#include "http/response_wire.h"

#include <charconv>

#include <boost/asio/buffer.hpp>

namespace mangaassist::http {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

// Beast's serializer for what the fast path does not write (chunked bodies).
boost::system::error_code SerializeWithBeast(const bhttp::response<bhttp::string_body>& res,
                                             std::string* out) {
  bhttp::response_serializer<bhttp::string_body> sr(res);
  boost::system::error_code ec;
  while (!ec && !sr.is_done()) {
    sr.next(ec, [&](boost::system::error_code&, const auto& buffers) {
      const size_t n = asio::buffer_size(buffers);
      const size_t at = out->size();
      out->resize(at + n);
      asio::buffer_copy(asio::buffer(out->data() + at, n), buffers);
      sr.consume(n);
    });
  }
  return ec;
}

size_t FieldsSize(const bhttp::fields& fields) {
  size_t size = 0;
  for (const auto& field : fields) size += field.name_string().size() + field.value().size() + 4;
  return size;
}

// Clears `out`, reserves for the head, the body and `extra` bytes, and writes the status line
// and `res`'s fields in order: "HTTP/1.1 200 OK\r\n" (the version's digits, the status' three
// and the reason, as Beast writes them), then "Name: value\r\n" each. No blank line yet.
void AppendHead(const bhttp::response<bhttp::string_body>& res, size_t extra, std::string* out) {
  const unsigned version = res.version();
  const unsigned status = res.result_int();
  const boost::beast::string_view reason = res.reason();
  out->clear();
  out->reserve(16 + reason.size() + FieldsSize(res) + res.body().size() + extra);
  const char line[] = {'H',
                       'T',
                       'T',
                       'P',
                       '/',
                       static_cast<char>('0' + version / 10 % 10),
                       '.',
                       static_cast<char>('0' + version % 10),
                       ' ',
                       static_cast<char>('0' + status / 100 % 10),
                       static_cast<char>('0' + status / 10 % 10),
                       static_cast<char>('0' + status % 10),
                       ' '};
  out->append(line, sizeof line);
  out->append(reason.data(), reason.size());
  out->append("\r\n", 2);
  for (const auto& field : res) {
    const boost::beast::string_view name = field.name_string();
    const boost::beast::string_view value = field.value();
    out->append(name.data(), name.size());
    out->append(": ", 2);
    out->append(value.data(), value.size());
    out->append("\r\n", 2);
  }
}

}  // namespace

boost::system::error_code SerializeResponse(const bhttp::response<bhttp::string_body>& res,
                                            std::string* out) {
  if (res.chunked()) {
    out->clear();
    return SerializeWithBeast(res, out);
  }
  AppendHead(res, 0, out);
  out->append("\r\n", 2);
  out->append(res.body());
  return {};
}

boost::system::error_code SerializeReply(bhttp::response<bhttp::string_body>& res,
                                         std::string_view request_id, bool keep_alive,
                                         std::string* out) {
  const unsigned status = res.result_int();
  const bool bodiless_status = status / 100 == 1 || status == 204 || status == 304;
  bool plain = !bodiless_status;
  for (const auto& field : res) {
    switch (field.name()) {
      case bhttp::field::connection:
      case bhttp::field::content_length:
      case bhttp::field::transfer_encoding:
        plain = false;
        break;
      case bhttp::field::unknown:
        if (boost::beast::iequals(field.name_string(), "X-Request-Id")) plain = false;
        break;
      default:
        break;
    }
    if (!plain) break;
  }
  if (!plain) {
    res.set("X-Request-Id", request_id);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return SerializeResponse(res, out);
  }
  // What set / keep_alive / prepare_payload would append, in that order: X-Request-Id, then a
  // Connection token only where the version's default differs, then Content-Length.
  const unsigned version = res.version();
  std::string_view connection;
  if (version >= 11 && !keep_alive) connection = "close";
  if (version < 11 && keep_alive) connection = "keep-alive";
  char length[24];
  const auto end = std::to_chars(length, length + sizeof length, res.body().size()).ptr;
  AppendHead(res, 80 + request_id.size(), out);
  out->append("X-Request-Id: ");
  out->append(request_id);
  if (!connection.empty()) {
    out->append("\r\nConnection: ");
    out->append(connection);
  }
  out->append("\r\nContent-Length: ");
  out->append(length, static_cast<size_t>(end - length));
  out->append("\r\n\r\n");
  out->append(res.body());
  return {};
}

}  // namespace mangaassist::http
