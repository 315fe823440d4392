#include "http/response_wire.h"

#include <boost/asio/buffer.hpp>

namespace mangaassist::http {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

// Beast's serializer for what the fast path does not write (chunked bodies).
template <bool isRequest>
boost::system::error_code SerializeWithBeast(
    const bhttp::message<isRequest, bhttp::string_body>& msg, std::string* out) {
  bhttp::serializer<isRequest, bhttp::string_body> sr(msg);
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

void AppendVersion(unsigned version, std::string* out) {
  const char v[] = {'H', 'T', 'T', 'P', '/', static_cast<char>('0' + version / 10 % 10), '.',
                    static_cast<char>('0' + version % 10)};
  out->append(v, sizeof v);
}

// Fields, blank line, body.
void AppendRest(const bhttp::fields& fields, const std::string& body, std::string* out) {
  for (const auto& field : fields) {
    const boost::beast::string_view name = field.name_string();
    const boost::beast::string_view value = field.value();
    out->append(name.data(), name.size());
    out->append(": ", 2);
    out->append(value.data(), value.size());
    out->append("\r\n", 2);
  }
  out->append("\r\n", 2);
  out->append(body);
}

size_t FieldsSize(const bhttp::fields& fields) {
  size_t size = 0;
  for (const auto& field : fields) size += field.name_string().size() + field.value().size() + 4;
  return size;
}

}  // namespace

boost::system::error_code SerializeResponse(const bhttp::response<bhttp::string_body>& res,
                                            std::string* out) {
  out->clear();
  if (res.chunked()) return SerializeWithBeast(res, out);
  const unsigned status = res.result_int();
  const boost::beast::string_view reason = res.reason();
  out->reserve(16 + reason.size() + FieldsSize(res) + res.body().size());
  // "HTTP/1.1 200 OK\r\n": the version's digits and the status' three (Beast writes the same).
  AppendVersion(res.version(), out);
  const char code[] = {' ', static_cast<char>('0' + status / 100 % 10),
                       static_cast<char>('0' + status / 10 % 10),
                       static_cast<char>('0' + status % 10), ' '};
  out->append(code, sizeof code);
  out->append(reason.data(), reason.size());
  out->append("\r\n", 2);
  AppendRest(res, res.body(), out);
  return {};
}

}  // namespace mangaassist::http
