// Positive cases and traps for every PII type, in English and Japanese contexts, with full-width
// forms. Each case runs through Sanitize() (normalize + redact) and compares the spans, as
// substrings of the ORIGINAL text, with the expectation. Traps expect no span at all.
#include "privacy/redactor.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "privacy/sanitize.h"

namespace mangaassist::privacy {
namespace {

using T = PiiType;

struct Expect {
  T type;
  std::string value;  // substring of the original text
};

struct Case {
  std::string text;
  std::vector<Expect> pii;
};

std::string Describe(const std::vector<Expect>& v) {
  std::string s;
  for (const auto& e : v) s += std::string(PiiTypeName(e.type)) + "=\"" + e.value + "\" ";
  return s.empty() ? "(none)" : s;
}

std::vector<Expect> Find(const std::string& text, std::string* redacted) {
  SanitizeOptions opts;
  opts.original_offsets = true;
  auto r = Sanitize(text, opts, Redactor::Default());
  EXPECT_TRUE(r.ok()) << r.status();
  std::vector<Expect> out;
  if (!r.ok()) return out;
  for (const PiiSpan& s : r->spans) out.push_back({s.type, text.substr(s.start, s.end - s.start)});
  if (redacted != nullptr) *redacted = r->text;
  return out;
}

// Runs a table; `type` is the type under test (for the case-count floor).
void RunTable(const std::vector<Case>& cases, size_t min_cases) {
  EXPECT_GE(cases.size(), min_cases);
  for (const Case& c : cases) {
    std::string redacted;
    std::vector<Expect> got = Find(c.text, &redacted);
    bool same = got.size() == c.pii.size();
    for (size_t i = 0; same && i < got.size(); ++i) {
      same = got[i].type == c.pii[i].type && got[i].value == c.pii[i].value;
    }
    EXPECT_TRUE(same) << "text:     " << c.text << "\nexpected: " << Describe(c.pii)
                      << "\ngot:      " << Describe(got) << "\nredacted: " << redacted;
  }
}

TEST(RedactorTest, Email) {
  RunTable(
      {
          {"my email is taro.yamada@example.com", {{T::kEmail, "taro.yamada@example.com"}}},
          {"メールアドレスは hanako_s@example.co.jp です", {{T::kEmail, "hanako_s@example.co.jp"}}},
          {"連絡先：ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ",
           {{T::kEmail, "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ"}}},
          {"send it to john+manga@gmail.com please", {{T::kEmail, "john+manga@gmail.com"}}},
          {"<a.b-c@sub.example.org>", {{T::kEmail, "a.b-c@sub.example.org"}}},
          {"メール:info@manga-store.jp まで", {{T::kEmail, "info@manga-store.jp"}}},
          {"Email: USER123@EXAMPLE.NET", {{T::kEmail, "USER123@EXAMPLE.NET"}}},
          {"(kenji.sato@mail.example.ne.jp)", {{T::kEmail, "kenji.sato@mail.example.ne.jp"}}},
          {"mail me at first.last@company.co.uk.", {{T::kEmail, "first.last@company.co.uk"}}},
          {"返信はyuki1990@docomo.ne.jpにお願いします", {{T::kEmail, "yuki1990@docomo.ne.jp"}}},
          {"ｍａｉｌ：ｓａｔｏ．ｋ＠ｅｘａｍｐｌｅ．ｊｐ",
           {{T::kEmail, "ｓａｔｏ．ｋ＠ｅｘａｍｐｌｅ．ｊｐ"}}},
          {"メアド変更したい→new-address@example.com", {{T::kEmail, "new-address@example.com"}}},
          {"contact support@example.com about vol 3", {{T::kEmail, "support@example.com"}}},
          {"my paypal is pay.me@example.com", {{T::kEmail, "pay.me@example.com"}}},
          {"アカウントのメールはtest.user+tag@example.co.jpです",
           {{T::kEmail, "test.user+tag@example.co.jp"}}},
          {"email：hana@example.jp（仕事用）", {{T::kEmail, "hana@example.jp"}}},
          {"E-mail: 12345@example.com", {{T::kEmail, "12345@example.com"}}},
          {"mail=k_tanaka@example.com", {{T::kEmail, "k_tanaka@example.com"}}},
          {"登録メールアドレス：ｙｍｄ＿ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏ．ｊｐ",
           {{T::kEmail, "ｙｍｄ＿ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏ．ｊｐ"}}},
          {"old a_b@example.io new c.d@example.dev",
           {{T::kEmail, "a_b@example.io"}, {T::kEmail, "c.d@example.dev"}}},
          {"Is the Frieren 12 pre-order tied to mika.k@example.com?",
           {{T::kEmail, "mika.k@example.com"}}},
      },
      20);
}

TEST(RedactorTest, EmailTraps) {
  RunTable(
      {
          {"follow us @mangaassist on twitter", {}},
          {"@everyone is vol 5 out?", {}},
          {"price is 3 for ¥1,000 @ the store", {}},
          {"user@localhost doesn't work", {}},
          {"@Override annotations", {}},
          {"mention @田中さん please", {}},
          {"CSS @media query broke the site", {}},
          {"2 @ ¥500", {}},
          {"foo@bar", {}},
          {"a@b.c", {}},
          {"the domain example.com is down", {}},
          {"visit www.manga-store.jp for details", {}},
          {"ワンピース@105巻", {}},
          {"@ 東京 store", {}},
          {"hello@", {}},
          {"@example.com", {}},
          {"me@@example.com", {}},
          {"price@1320yen", {}},
          {"version 1.2@beta", {}},
          {"ツイッター＠ｍａｎｇａ＿ｓｔｏｒｅ", {}},
          {"reply to @support.team", {}},
      },
      20);
}

TEST(RedactorTest, Phone) {
  RunTable(
      {
          {"電話番号は０９０－１２３４－５６７８です", {{T::kPhone, "０９０－１２３４－５６７８"}}},
          {"call me at 090-1234-5678", {{T::kPhone, "090-1234-5678"}}},
          {"TEL: 03-1234-5678", {{T::kPhone, "03-1234-5678"}}},
          {"my cell is (555) 123-4567", {{T::kPhone, "(555) 123-4567"}}},
          {"+81 90-1234-5678", {{T::kPhone, "+81 90-1234-5678"}}},
          {"+81-3-1234-5678", {{T::kPhone, "+81-3-1234-5678"}}},
          {"+1 415 555 0132", {{T::kPhone, "+1 415 555 0132"}}},
          {"London office +44 20 7946 0958", {{T::kPhone, "+44 20 7946 0958"}}},
          {"携帯:080 1234 5678", {{T::kPhone, "080 1234 5678"}}},
          {"フリーダイヤル0120-123-456までどうぞ", {{T::kPhone, "0120-123-456"}}},
          {"call 1-800-555-0199 for support", {{T::kPhone, "1-800-555-0199"}}},
          {"555.867.5309", {{T::kPhone, "555.867.5309"}}},
          {"電話09012345678に連絡ください", {{T::kPhone, "09012345678"}}},
          {"phone: 0312345678", {{T::kPhone, "0312345678"}}},
          {"TEL０６（６１２３）４５６７", {{T::kPhone, "０６（６１２３）４５６７"}}},
          {"+81 (0)3 1234 5678", {{T::kPhone, "+81 (0)3 1234 5678"}}},
          {"お問い合わせ：０５０－１２３４－５６７８", {{T::kPhone, "０５０－１２３４－５６７８"}}},
          {"連絡は070ー1234ー5678まで", {{T::kPhone, "070ー1234ー5678"}}},
          {"fax 03-5555-1234", {{T::kPhone, "03-5555-1234"}}},
          {"Beijing +86 10 1234 5678", {{T::kPhone, "+86 10 1234 5678"}}},
          {"(03) 1234-5678", {{T::kPhone, "(03) 1234-5678"}}},
          {"Paris: +33 1 23 45 67 89", {{T::kPhone, "+33 1 23 45 67 89"}}},
          {"US office: 212-555-0147", {{T::kPhone, "212-555-0147"}}},
          {"ＴＥＬ：０３－１２３４－５６７８", {{T::kPhone, "０３－１２３４－５６７８"}}},
          {"ＴＥＬ０３－１２３４－５６７８", {{T::kPhone, "０３－１２３４－５６７８"}}},
          {"配達前に080−9876−5432へ電話して", {{T::kPhone, "080−9876−5432"}}},
      },
      20);
}

TEST(RedactorTest, PhoneTraps) {
  RunTable(
      {
          {"order MA-2025-004512 status?", {}},
          {"注文番号ＭＡ－２０２５－００４５１２の件", {}},
          {"released on 2025-03-15", {}},
          {"open 10:00-18:00", {}},
          {"price ¥1,320", {}},
          {"$9.99 each", {}},
          {"ISBN 978-4-08-882011-8", {}},
          {"vol 1-10 set", {}},
          {"version 10.0.19045", {}},
          {"chapters 1084-1090", {}},
          {"code 1234-5678", {}},
          {"2025年3月15日 10時30分", {}},
          {"ISBN 4088820118", {}},
          {"5,000円 or 10,000円", {}},
          {"1234567890", {}},
          {"0312345678 is the product code", {}},
          {"注文番号：0901234567", {}},
          {"tracking 09012345678", {}},
          {"3-5 business days", {}},
          {"1.5.2025", {}},
          {"全１００巻セット", {}},
          {"ISBN4-08-882011-8", {}},
          {"SPRING25 coupon for 2 items", {}},
          {"EJ482917365JP", {}},
      },
      20);
}

TEST(RedactorTest, CreditCard) {
  RunTable(
      {
          {"card number 4111 1111 1111 1111", {{T::kCreditCard, "4111 1111 1111 1111"}}},
          {"カード番号は４１１１－１１１１－１１１１－１１１１です",
           {{T::kCreditCard, "４１１１－１１１１－１１１１－１１１１"}}},
          {"Visa 4242424242424242 exp 12/27", {{T::kCreditCard, "4242424242424242"}}},
          {"my amex is 3782 822463 10005", {{T::kCreditCard, "3782 822463 10005"}}},
          {"クレジットカード：5555-5555-5555-4444", {{T::kCreditCard, "5555-5555-5555-4444"}}},
          {"JCB 3530 1113 3330 0000", {{T::kCreditCard, "3530 1113 3330 0000"}}},
          {"pay with 6011111111111117", {{T::kCreditCard, "6011111111111117"}}},
          {"Diners 3056 930902 5904", {{T::kCreditCard, "3056 930902 5904"}}},
          {"5105105105105100 was charged twice", {{T::kCreditCard, "5105105105105100"}}},
          {"カード 4787789328792170 で払いました", {{T::kCreditCard, "4787789328792170"}}},
          {"card: 2221 0191 6146 1008", {{T::kCreditCard, "2221 0191 6146 1008"}}},
          {"4012888888881881", {{T::kCreditCard, "4012888888881881"}}},
          {"Mastercard 5170 1746 8145 3847 exp 01/28", {{T::kCreditCard, "5170 1746 8145 3847"}}},
          {"決済に使ったカードは3566 3049 4032 6990", {{T::kCreditCard, "3566 3049 4032 6990"}}},
          {"カード番号 4111111111111111 の請求", {{T::kCreditCard, "4111111111111111"}}},
          {"old visa card 4222222222222", {{T::kCreditCard, "4222222222222"}}},
          {"card 4108436469748212378", {{T::kCreditCard, "4108436469748212378"}}},
          {"ＶＩＳＡ　４０２４　５８９２　１５２７　５８９８",
           {{T::kCreditCard, "４０２４　５８９２　１５２７　５８９８"}}},
          {"full number 6529 0075 4009 1711", {{T::kCreditCard, "6529 0075 4009 1711"}}},
          {"JCBカード３５８９４５２１１７８５０２５１",
           {{T::kCreditCard, "３５８９４５２１１７８５０２５１"}}},
          {"Amex 371450612310076", {{T::kCreditCard, "371450612310076"}}},
          {"Diners Club 30517160790967", {{T::kCreditCard, "30517160790967"}}},
          {"card 4111 1111 1111 1111 2冊分", {{T::kCreditCard, "4111 1111 1111 1111"}}},
          {"JANじゃなくてカード 4901234567894", {{T::kCreditCard, "4901234567894"}}},
      },
      20);
}

TEST(RedactorTest, CreditCardTraps) {
  RunTable(
      {
          {"ISBN 9784168731693", {}},  // ISBN-13 that also passes Luhn
          {"9784803601442", {}},       // bare ISBN-13, Luhn-valid
          {"ISBN 978-4-16-873169-3", {}},
          {"JAN 4532625366842", {}},  // JAN, Luhn-valid
          {"バーコード 4526884030750", {}},
          {"4526756906954", {}},  // bare JAN, Luhn-valid
          {"4901234567894", {}},
          {"tracking 1986961417766028", {}},
          {"追跡番号 9844757029343437", {}},
          {"order 4111 1111 1111 1112", {}},  // Luhn-invalid
          {"4111 1111 1111 1112", {}},
          {"1234 5678 9012 3456", {}},
          {"0380860387819854", {}},  // Luhn-valid, but no network starts with 0
          {"¥1,320,000", {}},
          {"ISBN-13: 978-4-08-882011-8", {}},
          {"4111 1111", {}},
          {"41111111111111111111111", {}},
          {"商品コード 4597960702182", {}},
          {"EAN 4953027922786", {}},
          {"1451053623225977 is the parcel id", {}},
          {"12345678901234", {}},
          {"ワンピース 1-105巻 全巻セット 9784088820118", {}},
      },
      20);
}

TEST(RedactorTest, MyNumber) {
  RunTable(
      {
          {"マイナンバーは778188049177です", {{T::kMyNumber, "778188049177"}}},
          {"my number is 0317 9740 5429", {{T::kMyNumber, "0317 9740 5429"}}},
          {"個人番号：９３８２－５７７３－５６４６",
           {{T::kMyNumber, "９３８２－５７７３－５６４６"}}},
          {"マイナンバー 363363953226 です", {{T::kMyNumber, "363363953226"}}},
          {"My Number: 7501-4217-7438", {{T::kMyNumber, "7501-4217-7438"}}},
          {"668759751044", {{T::kMyNumber, "668759751044"}}},
          {"マイナンバーカードの番号は904954902672", {{T::kMyNumber, "904954902672"}}},
          {"individual number 3043 2017 1856", {{T::kMyNumber, "3043 2017 1856"}}},
          {"番号は133742078027です", {{T::kMyNumber, "133742078027"}}},
          {"身分証明のため345888926310を送ります", {{T::kMyNumber, "345888926310"}}},
          {"マイナンバー：６６２７７３０６８９８７", {{T::kMyNumber, "６６２７７３０６８９８７"}}},
          {"mynumber 575311336145", {{T::kMyNumber, "575311336145"}}},
          {"個人番号 8540-5810-7580", {{T::kMyNumber, "8540-5810-7580"}}},
          {"here it is: 647031602851", {{T::kMyNumber, "647031602851"}}},
          {"マイナンバー(272887791376)", {{T::kMyNumber, "272887791376"}}},
          {"884828884463 がマイナンバーです", {{T::kMyNumber, "884828884463"}}},
          {"私の個人番号は934288497365です", {{T::kMyNumber, "934288497365"}}},
          {"MY NUMBER 8180 9608 0860", {{T::kMyNumber, "8180 9608 0860"}}},
          {"ID 891712187664", {{T::kMyNumber, "891712187664"}}},
          {"番号：４３７７２５６７８５１６", {{T::kMyNumber, "４３７７２５６７８５１６"}}},
          {"369042003232", {{T::kMyNumber, "369042003232"}}},
          {"本人確認 ０４５５ ３９７１ ７９１３", {{T::kMyNumber, "０４５５ ３９７１ ７９１３"}}},
      },
      20);
}

TEST(RedactorTest, MyNumberTraps) {
  RunTable(
      {
          {"追跡番号 416167076540", {}},  // valid check digit, tracking context
          {"tracking number 7432 6372 5380", {}},
          {"伝票番号：156279484061", {}},
          {"order 151640679474", {}},
          {"注文番号 541005559449", {}},
          {"321461668236", {}},               // invalid check digit
          {"マイナンバー 601395518582", {}},  // invalid check digit, even in context
          {"317100898973", {}},
          {"ヤマト 276955093106", {}},
          {"1234 5678 9012", {}},
          {"JAN 4901234567894", {}},
          {"2025-0315-1030", {}},
          {"¥123,456,789,012", {}},
          {"vol 1234 5678", {}},
          {"MA-2025-004512", {}},
          {"123456789012345", {}},
          {"お問い合わせ番号 7432-6372-5380", {}},
          {"会員番号 416167076540", {}},
          {"佐川の荷物 541005559449 届かない", {}},
          {"ver 1234.5678.9012", {}},
          {"ＭＡ－２０２５－１２３４５６７８９０１２", {}},
      },
      20);
}

TEST(RedactorTest, PostalCode) {
  RunTable(
      {
          {"〒100-0001", {{T::kPostalCode, "100-0001"}}},
          {"〒１００－０００１", {{T::kPostalCode, "１００－０００１"}}},
          {"郵便番号は530-0001です", {{T::kPostalCode, "530-0001"}}},
          {"zip code 1500001", {{T::kPostalCode, "1500001"}}},
          {"postal code: 060-0001", {{T::kPostalCode, "060-0001"}}},
          {"〒9800811", {{T::kPostalCode, "9800811"}}},
          {"郵便番号：２６０－００１３", {{T::kPostalCode, "２６０－００１３"}}},
          {"post code 460-0008", {{T::kPostalCode, "460-0008"}}},
          {"〒０６０－８５８８", {{T::kPostalCode, "０６０－８５８８"}}},
          {"send to 〒150-0002", {{T::kPostalCode, "150-0002"}}},
          {"郵便番号 1000005 です", {{T::kPostalCode, "1000005"}}},
          {"ZIP: 530-0017", {{T::kPostalCode, "530-0017"}}},
          {"〒231-0023 横浜の店舗", {{T::kPostalCode, "231-0023"}}},
          {"新住所の郵便番号は812-0011です", {{T::kPostalCode, "812-0011"}}},
          {"Postcode 730-0011, Hiroshima", {{T::kPostalCode, "730-0011"}}},
          {"〒 900-0006", {{T::kPostalCode, "900-0006"}}},
          {"my zip is 221-0835", {{T::kPostalCode, "221-0835"}}},
          {"〒651-0087 兵庫県", {{T::kPostalCode, "651-0087"}}},
          {"651-0087 兵庫県", {{T::kPostalCode, "651-0087"}}},
          {"送り先〒４６０ー０００８", {{T::kPostalCode, "４６０ー０００８"}}},
          {"郵便番号 ５３０－８２０１", {{T::kPostalCode, "５３０－８２０１"}}},
      },
      20);
}

TEST(RedactorTest, PostalCodeTraps) {
  RunTable(
      {
          {"100-0001", {}},           {"call 555-1234", {}},     {"order 123-4567", {}},
          {"tracking 123-4567", {}},  {"1234567", {}},           {"2025-0315", {}},
          {"¥100-¥500", {}},          {"品番 ABC-123-4567", {}}, {"MA-123-4567", {}},
          {"会員番号 1234567", {}},   {"price 1,234,567", {}},   {"123-4567-890", {}},
          {"3-5日で届きます", {}},    {"Version 123-4567", {}},  {"12:30-14:00", {}},
          {"1000-0001", {}},          {"商品番号 7654321", {}},  {"注文 765-4321", {}},
          {"vol 100-200 bundle", {}}, {"2024年12月25日", {}},    {"ISBN 978-4-08-882011-8", {}},
      },
      20);
}

TEST(RedactorTest, IpAddress) {
  RunTable(
      {
          {"my IP is 192.168.0.1", {{T::kIpAddress, "192.168.0.1"}}},
          {"サーバー 10.0.0.5 に接続できません", {{T::kIpAddress, "10.0.0.5"}}},
          {"from 203.0.113.45", {{T::kIpAddress, "203.0.113.45"}}},
          {"IPアドレス：１７２．１６．２５４．１", {{T::kIpAddress, "１７２．１６．２５４．１"}}},
          {"2001:db8::1", {{T::kIpAddress, "2001:db8::1"}}},
          {"fe80::1ff:fe23:4567:890a", {{T::kIpAddress, "fe80::1ff:fe23:4567:890a"}}},
          {"IPv6 2001:0db8:85a3:0000:0000:8a2e:0370:7334",
           {{T::kIpAddress, "2001:0db8:85a3:0000:0000:8a2e:0370:7334"}}},
          {"::ffff:192.0.2.128", {{T::kIpAddress, "::ffff:192.0.2.128"}}},
          {"http://198.51.100.7:8080/ が開けない", {{T::kIpAddress, "198.51.100.7"}}},
          {"blocked 8.8.8.8?", {{T::kIpAddress, "8.8.8.8"}}},
          {"接続元 127.0.0.1", {{T::kIpAddress, "127.0.0.1"}}},
          {"[2001:db8:0:1::42]", {{T::kIpAddress, "2001:db8:0:1::42"}}},
          {"ip=100.64.1.2", {{T::kIpAddress, "100.64.1.2"}}},
          {"client 192.0.2.1, server 192.0.2.2",
           {{T::kIpAddress, "192.0.2.1"}, {T::kIpAddress, "192.0.2.2"}}},
          {"自宅のIP 61.115.22.200 です", {{T::kIpAddress, "61.115.22.200"}}},
          {"IPv6: 2400:4050:a0c2:1d00:b1e2::10", {{T::kIpAddress, "2400:4050:a0c2:1d00:b1e2::10"}}},
          {"mask 255.255.255.0", {{T::kIpAddress, "255.255.255.0"}}},
          {"ping 1.1.1.1", {{T::kIpAddress, "1.1.1.1"}}},
          {"アクセス元は240b:11:c2e0:4700::1でした", {{T::kIpAddress, "240b:11:c2e0:4700::1"}}},
          {"address 169.254.10.20.", {{T::kIpAddress, "169.254.10.20"}}},
          {"ｆｅ８０：：１２３４：５６７８", {{T::kIpAddress, "ｆｅ８０：：１２３４：５６７８"}}},
      },
      20);
}

TEST(RedactorTest, IpAddressTraps) {
  RunTable(
      {
          {"version 1.2.3.4", {}},
          {"v1.2.3.4", {}},
          {"ver. 10.0.0.1", {}},
          {"バージョン 2.0.1.5", {}},
          {"1.2.3", {}},
          {"10:30:45", {}},
          {"open 10:00-18:00", {}},
          {"MAC 00:1A:2B:3C:4D:5E", {}},
          {"std::string", {}},
          {"a::b", {}},
          {"999.1.1.1", {}},
          {"1.2.3.4.5", {}},
          {"ratio 16:9", {}},
          {"¥1.320", {}},
          {"2025.03.15", {}},
          {"firmware 4.1.0.12", {}},
          {"build 3.14.159.26", {}},
          {"12:30:00 JST", {}},
          {"::", {}},
          {"Re: 1:1 chat", {}},
          {"score 3:2:1", {}},
          {"2025-03-15T10:30:00Z", {}},
      },
      20);
}

TEST(RedactorTest, StreetAddress) {
  RunTable(
      {
          {"東京都千代田区千代田1-1", {{T::kStreetAddress, "東京都千代田区千代田1-1"}}},
          {"住所は大阪府大阪市北区梅田3丁目1番3号です",
           {{T::kStreetAddress, "大阪府大阪市北区梅田3丁目1番3号"}}},
          {"神奈川県横浜市西区みなとみらい2-3-1に送って",
           {{T::kStreetAddress, "神奈川県横浜市西区みなとみらい2-3-1"}}},
          {"北海道札幌市中央区北1条西2丁目",
           {{T::kStreetAddress, "北海道札幌市中央区北1条西2丁目"}}},
          {"〒150-0002 東京都渋谷区渋谷２－２１－１",
           {{T::kPostalCode, "150-0002"}, {T::kStreetAddress, "東京都渋谷区渋谷２－２１－１"}}},
          {"港区六本木6丁目10-1", {{T::kStreetAddress, "港区六本木6丁目10-1"}}},
          {"京都府京都市下京区烏丸通七条下る東塩小路町721-1",
           {{T::kStreetAddress, "京都府京都市下京区烏丸通七条下る東塩小路町721-1"}}},
          {"福岡県福岡市博多区博多駅中央街1-1",
           {{T::kStreetAddress, "福岡県福岡市博多区博多駅中央街1-1"}}},
          {"愛知県名古屋市中村区名駅1丁目1-4",
           {{T::kStreetAddress, "愛知県名古屋市中村区名駅1丁目1-4"}}},
          {"123 Main St", {{T::kStreetAddress, "123 Main St"}}},
          {"I live at 742 Evergreen Terrace, Springfield",
           {{T::kStreetAddress, "742 Evergreen Terrace"}}},
          {"ship to 1600 Pennsylvania Avenue NW, Washington, DC 20500",
           {{T::kStreetAddress, "1600 Pennsylvania Avenue NW, Washington, DC 20500"}}},
          {"350 Fifth Avenue, Suite 3300", {{T::kStreetAddress, "350 Fifth Avenue, Suite 3300"}}},
          {"my address: 221B Baker Street", {{T::kStreetAddress, "221B Baker Street"}}},
          {"deliver to 4059 Mt Lee Dr.", {{T::kStreetAddress, "4059 Mt Lee Dr."}}},
          {"55 W 46th St Apt 4B", {{T::kStreetAddress, "55 W 46th St Apt 4B"}}},
          {"住所：東京都新宿区西新宿２丁目８－１",
           {{T::kStreetAddress, "東京都新宿区西新宿２丁目８－１"}}},
          {"埼玉県さいたま市浦和区高砂3-15-1",
           {{T::kStreetAddress, "埼玉県さいたま市浦和区高砂3-15-1"}}},
          {"100 Oak Street, Springfield, IL 62704",
           {{T::kStreetAddress, "100 Oak Street, Springfield, IL 62704"}}},
          {"千葉県浦安市舞浜1-1", {{T::kStreetAddress, "千葉県浦安市舞浜1-1"}}},
          {"沖縄県那覇市泉崎1丁目2番2号", {{T::kStreetAddress, "沖縄県那覇市泉崎1丁目2番2号"}}},
          {"2 Elm Ct #5", {{T::kStreetAddress, "2 Elm Ct #5"}}},
          {"1 Infinite Loop", {{T::kStreetAddress, "1 Infinite Loop"}}},
      },
      20);
}

TEST(RedactorTest, StreetAddressTraps) {
  RunTable(
      {
          {"大阪市内の店舗に3-4日で届きますか", {}},
          {"渋谷区のイベントは10-20時", {}},
          {"東京都の在庫はありますか", {}},
          {"I bought 3 copies on the way home", {}},
          {"read chapters 1-3 today", {}},
          {"vol 2 of One Piece", {}},
          {"Top 10 Best Way to read manga", {}},
          {"1 Street Fighter figure", {}},
          {"5 Drive episodes", {}},
          {"大阪府のお客様は2-3日", {}},
          {"京都市で3巻を買った", {}},
          {"新宿区1-3巻", {}},
          {"港区の店舗2階", {}},
          {"Baker Street Detective vol 3", {}},
          {"3 St. Patrick's Day specials", {}},
          {"I have 2 way tickets", {}},
          {"buy 2 get 1 free", {}},
          {"横浜市から3-5日", {}},
          {"千代田区役所", {}},
          {"第1-2話", {}},
          {"2 books way too expensive", {}},
          {"町田市のアニメイト", {}},
      },
      20);
}

TEST(RedactorTest, PlaceholdersReplaceTheSpans) {
  std::string redacted;
  Find("電話は０９０－１２３４－５６７８、メールはa@example.jpです", &redacted);
  EXPECT_EQ(redacted, "電話は[PHONE]、メールは[EMAIL]です");
  Find("card 4111 1111 1111 1111, ship to 〒100-0001 東京都千代田区千代田1-1", &redacted);
  EXPECT_EQ(redacted, "card [CREDIT_CARD], ship to 〒[POSTAL_CODE] [ADDRESS]");
  Find("マイナンバー 778188049177 と IP 10.0.0.1", &redacted);
  EXPECT_EQ(redacted, "マイナンバー [MY_NUMBER] と IP [IP_ADDRESS]");
}

TEST(RedactorTest, PlaceholdersAreNeverRedactedAgain) {
  const Redactor& r = Redactor::Default();
  for (size_t i = 0; i < kPiiTypeCount; ++i) {
    std::string ph(PiiPlaceholder(static_cast<PiiType>(i)));
    for (const std::string& text : {ph, ph + ph, "TEL " + ph, ph + "@" + ph + ".com", "〒" + ph}) {
      Redaction out = r.Redact(text);
      EXPECT_EQ(out.text, text);
      EXPECT_TRUE(out.spans.empty()) << text;
    }
  }
}

TEST(RedactorTest, CountsByType) {
  Redaction out = Redactor::Default().Redact(
      "a@example.com b@example.com 090-1234-5678 192.168.0.1 order MA-2025-004512");
  EXPECT_EQ(out.counts[static_cast<size_t>(T::kEmail)], 2);
  EXPECT_EQ(out.counts[static_cast<size_t>(T::kPhone)], 1);
  EXPECT_EQ(out.counts[static_cast<size_t>(T::kIpAddress)], 1);
  EXPECT_EQ(out.total(), 4u);
}

TEST(RedactorTest, TypeNamesRoundTrip) {
  for (size_t i = 0; i < kPiiTypeCount; ++i) {
    PiiType t;
    ASSERT_TRUE(ParsePiiType(PiiTypeName(static_cast<PiiType>(i)), &t));
    EXPECT_EQ(static_cast<size_t>(t), i);
  }
  PiiType t;
  EXPECT_FALSE(ParsePiiType("ssn", &t));
}

}  // namespace
}  // namespace mangaassist::privacy
