// RFC 4533's control values against bytes written out by hand from the RFC's ASN.1 (DER), so
// the encoding is checked against the standard, not against the library that produced it.
#include <gtest/gtest.h>

#include <string>

#include "provbridge/producers/ldap_sync.hpp"

namespace provbridge::producers::ldap {
namespace {

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int v : values) out.push_back(static_cast<char>(v));
    return out;
}

const Uuid kUuid = {0x0f, 0x27, 0x21, 0xa6, 0x82, 0xa7, 0x10, 0x41, 0x8c, 0xb4, 0x13, 0x74, 0x1c, 0x76, 0x87, 0x88};
const Uuid kOther = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};

std::string raw(const Uuid& u) { return std::string(reinterpret_cast<const char*>(u.data()), u.size()); }

TEST(LdapSyncTest, TheRequestIsDerWithTheDefaultReloadHintLeftOut) {
    // SEQUENCE { ENUMERATED 3 }
    EXPECT_EQ(encode_sync_request(SyncMode::RefreshAndPersist, std::nullopt, false), bytes({0x30, 0x03, 0x0a, 0x01, 0x03}));
    // SEQUENCE { ENUMERATED 1, OCTET STRING "abc" }
    EXPECT_EQ(encode_sync_request(SyncMode::RefreshOnly, std::string("abc"), false),
              bytes({0x30, 0x08, 0x0a, 0x01, 0x01, 0x04, 0x03, 'a', 'b', 'c'}));
    // ... BOOLEAN TRUE
    EXPECT_EQ(encode_sync_request(SyncMode::RefreshAndPersist, std::string("abc"), true),
              bytes({0x30, 0x0b, 0x0a, 0x01, 0x03, 0x04, 0x03, 'a', 'b', 'c', 0x01, 0x01, 0xff}));
}

TEST(LdapSyncTest, AStateCarriesItsStateTheUuidAndAnOptionalCookie) {
    auto add = decode_sync_state(bytes({0x30, 0x15, 0x0a, 0x01, 0x01, 0x04, 0x10}) + raw(kUuid));
    ASSERT_TRUE(add.ok()) << add.error().message;
    EXPECT_EQ(add->state, SyncState::Add);
    EXPECT_EQ(add->uuid, kUuid);
    EXPECT_FALSE(add->cookie.has_value());

    auto del = decode_sync_state(bytes({0x30, 0x1a, 0x0a, 0x01, 0x03, 0x04, 0x10}) + raw(kUuid) +
                                 bytes({0x04, 0x03, 'c', 's', 'n'}));
    ASSERT_TRUE(del.ok()) << del.error().message;
    EXPECT_EQ(del->state, SyncState::Delete);
    EXPECT_EQ(del->cookie, "csn");
}

TEST(LdapSyncTest, AStateThatIsNotTheRfcsIsAPermanentError) {
    // A 15-byte entryUUID, an unknown state, a truncated value, nothing at all.
    const Uuid& u = kUuid;
    const std::string short_uuid = raw(u).substr(0, 15);
    for (const auto& value : {bytes({0x30, 0x14, 0x0a, 0x01, 0x01, 0x04, 0x0f}) + short_uuid,
                              bytes({0x30, 0x15, 0x0a, 0x01, 0x07, 0x04, 0x10}) + raw(u),
                              bytes({0x30, 0x15, 0x0a, 0x01, 0x01, 0x04, 0x10, 0x0f, 0x27}), std::string()}) {
        auto decoded = decode_sync_state(value);
        ASSERT_FALSE(decoded.ok());
        EXPECT_EQ(decoded.error().kind, ErrorKind::Permanent);
        EXPECT_NE(decoded.error().message.find("RFC 4533"), std::string::npos) << decoded.error().message;
    }
}

TEST(LdapSyncTest, DoneDefaultsToNoDeletesAndReadsBoth) {
    auto empty = decode_sync_done(bytes({0x30, 0x00}));
    ASSERT_TRUE(empty.ok());
    EXPECT_FALSE(empty->cookie.has_value());
    EXPECT_FALSE(empty->refresh_deletes);
    auto full = decode_sync_done(bytes({0x30, 0x08, 0x04, 0x03, 'a', 'b', 'c', 0x01, 0x01, 0xff}));
    ASSERT_TRUE(full.ok());
    EXPECT_EQ(full->cookie, "abc");
    EXPECT_TRUE(full->refresh_deletes);
}

TEST(LdapSyncTest, InfoReadsEachChoiceWithItsDefaults) {
    auto cookie = decode_sync_info(bytes({0x80, 0x03, 'a', 'b', 'c'}));
    ASSERT_TRUE(cookie.ok());
    EXPECT_EQ(cookie->kind, SyncInfoValue::Kind::NewCookie);
    EXPECT_EQ(cookie->cookie, "abc");

    // refreshDelete with nothing in it: refreshDone DEFAULT TRUE.
    auto del = decode_sync_info(bytes({0xa1, 0x00}));
    ASSERT_TRUE(del.ok());
    EXPECT_EQ(del->kind, SyncInfoValue::Kind::RefreshDelete);
    EXPECT_TRUE(del->refresh_done);
    EXPECT_FALSE(del->cookie.has_value());

    auto present = decode_sync_info(bytes({0xa2, 0x08, 0x04, 0x03, 'x', 'y', 'z', 0x01, 0x01, 0x00}));
    ASSERT_TRUE(present.ok());
    EXPECT_EQ(present->kind, SyncInfoValue::Kind::RefreshPresent);
    EXPECT_FALSE(present->refresh_done);
    EXPECT_EQ(present->cookie, "xyz");

    // syncIdSet { cookie, refreshDeletes TRUE, SET OF { uuid, uuid } }
    auto ids = decode_sync_info(bytes({0xa3, 0x2e, 0x04, 0x03, 'c', 's', 'n', 0x01, 0x01, 0xff, 0x31, 0x24, 0x04, 0x10}) +
                                raw(kUuid) + bytes({0x04, 0x10}) + raw(kOther));
    ASSERT_TRUE(ids.ok()) << ids.error().message;
    EXPECT_EQ(ids->kind, SyncInfoValue::Kind::IdSet);
    EXPECT_TRUE(ids->refresh_deletes);
    EXPECT_EQ(ids->cookie, "csn");
    ASSERT_EQ(ids->uuids.size(), 2U);
    EXPECT_EQ(ids->uuids[0], kUuid);
    EXPECT_EQ(ids->uuids[1], kOther);

    // Present ids (refreshDeletes left at its default) without a cookie.
    auto present_ids = decode_sync_info(bytes({0xa3, 0x14, 0x31, 0x12, 0x04, 0x10}) + raw(kOther));
    ASSERT_TRUE(present_ids.ok()) << present_ids.error().message;
    EXPECT_FALSE(present_ids->refresh_deletes);
    ASSERT_EQ(present_ids->uuids.size(), 1U);

    EXPECT_FALSE(decode_sync_done("").ok());
    EXPECT_FALSE(decode_sync_info("").ok());
    auto unknown = decode_sync_info(bytes({0xa7, 0x00}));
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().kind, ErrorKind::Permanent);
}

TEST(LdapSyncTest, TheUuidTextIsTheEntryUuidAttributesForm) {
    EXPECT_EQ(uuid_text(kUuid), "0f2721a6-82a7-1041-8cb4-13741c768788");
}

}  // namespace
}  // namespace provbridge::producers::ldap
