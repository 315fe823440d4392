#include "http/response_wire.h"

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

}  // namespace

boost::system::error_code SerializeResponse(const bhttp::response<bhttp::string_body>& res,
                                            std::string* out) {
  out->clear();
  if (res.chunked()) return SerializeWithBeast(res, out);
  const unsigned status = res.result_int();
  const unsigned version = res.version();
  const boost::beast::string_view reason = res.reason();
  size_t size = 16 + reason.size() + res.body().size();
  for (const auto& field : res) size += field.name_string().size() + field.value().size() + 4;
  out->reserve(size);
  // "HTTP/1.1 200 OK\r\n": the version's digits and the status' three (Beast writes the same).
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
  out->append("\r\n", 2);
  out->append(res.body());
  return {};
}

}  // namespace mangaassist::http
