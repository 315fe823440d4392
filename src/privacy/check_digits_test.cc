#include "privacy/check_digits.h"

#include "gtest/gtest.h"

namespace mangaassist::privacy {
namespace {

TEST(CheckDigitsTest, Luhn) {
  for (const char* ok : {"4111111111111111", "5555555555554444", "378282246310005",
                         "6011111111111117", "3530111333300000", "30569309025904", "0", "18"}) {
    EXPECT_TRUE(LuhnValid(ok)) << ok;
  }
  for (const char* bad : {"4111111111111112", "1234567812345678", "", "4111-1111"}) {
    EXPECT_FALSE(LuhnValid(bad)) << bad;
  }
}

TEST(CheckDigitsTest, MyNumberCheckDigit) {
  for (const char* ok : {"778188049177", "031797405429", "938257735646", "123456789018"}) {
    EXPECT_TRUE(MyNumberValid(ok)) << ok;
  }
  for (const char* bad : {"321461668236", "601395518582", "123456789012", "12345678901",
                          "1234567890123", "12345678901a"}) {
    EXPECT_FALSE(MyNumberValid(bad)) << bad;
  }
}

TEST(CheckDigitsTest, Ean13AndIsbn10) {
  EXPECT_TRUE(Ean13Valid("9784088820118"));
  EXPECT_TRUE(Ean13Valid("4901234567894"));
  EXPECT_FALSE(Ean13Valid("9784088820119"));
  EXPECT_FALSE(Ean13Valid("978408882011"));
  EXPECT_TRUE(Isbn10Valid("4088820118"));
  EXPECT_TRUE(Isbn10Valid("080442957X"));
  EXPECT_FALSE(Isbn10Valid("4088820119"));
  EXPECT_FALSE(Isbn10Valid("40888201"));
}

TEST(CheckDigitsTest, Ipv4) {
  for (const char* ok : {"192.168.0.1", "0.0.0.0", "255.255.255.255", "8.8.8.8"}) {
    EXPECT_TRUE(Ipv4Valid(ok)) << ok;
  }
  for (const char* bad :
       {"256.1.1.1", "1.2.3", "1.2.3.4.5", "1..2.3", "1.2.3.", "1234.1.1.1", "a.b.c.d", ""}) {
    EXPECT_FALSE(Ipv4Valid(bad)) << bad;
  }
}

TEST(CheckDigitsTest, Ipv6) {
  int groups = 0;
  EXPECT_TRUE(Ipv6Valid("2001:db8::1", &groups));
  EXPECT_EQ(groups, 3);
  EXPECT_TRUE(Ipv6Valid("2001:0db8:85a3:0000:0000:8a2e:0370:7334", &groups));
  EXPECT_EQ(groups, 8);
  EXPECT_TRUE(Ipv6Valid("::ffff:192.0.2.128", &groups));
  EXPECT_EQ(groups, 3);
  EXPECT_TRUE(Ipv6Valid("fe80::", &groups));
  EXPECT_TRUE(Ipv6Valid("::1", &groups));
  EXPECT_EQ(groups, 1);
  for (const char* bad : {"10:30:45", "00:1A:2B:3C:4D:5E", "1::2::3", ":1:2", "1:2:3:4:5:6:7:8:9",
                          "12345::1", "g::1", "1:2:3:4:5:6:7", "2001:db8::1:", "::1.2.3"}) {
    EXPECT_FALSE(Ipv6Valid(bad, &groups)) << bad;
  }
}

}  // namespace
}  // namespace mangaassist::privacy
