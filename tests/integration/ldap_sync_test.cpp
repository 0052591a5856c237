// RFC 4533 content synchronisation against a real OpenLDAP slapd with the syncprov overlay
// (ops::LocalSlapd, one per suite): the initial refresh, the persist phase's changes, resuming
// from a stored cookie, and the errors an operator must be told about in words they can act on.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>

#include <sys/wait.h>

#include <fstream>

#include "provbridge/ops/local_services.hpp"
#include "provbridge/ops/process.hpp"
#include "provbridge/producers/ldap_client.hpp"

namespace provbridge::producers::ldap {
namespace {

using namespace std::chrono_literals;

constexpr int kUsers = 40;

std::string user_ldif(const std::string& suffix, int i) {
    const auto uid = "user" + std::to_string(i);
    return "dn: uid=" + uid + ",ou=people," + suffix + "\nobjectClass: inetOrgPerson\nuid: " + uid + "\ncn: User " +
           std::to_string(i) + "\nsn: Number" + std::to_string(i) + "\nmail: " + uid + "@example.org\n\n";
}

std::string seed_ldif(const std::string& suffix) {
    std::string ldif = "dn: ou=people," + suffix + "\nobjectClass: organizationalUnit\nou: people\n\n";
    ldif += "dn: ou=groups," + suffix + "\nobjectClass: organizationalUnit\nou: groups\n\n";
    for (int i = 0; i < kUsers; ++i) ldif += user_ldif(suffix, i);
    ldif += "dn: cn=app-crm,ou=groups," + suffix + "\nobjectClass: groupOfNames\ncn: app-crm\nmember: uid=user1,ou=people," +
            suffix + "\nmember: uid=user2,ou=people," + suffix + "\n\n";
    return ldif;
}

class LdapSync : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        slapd_ = std::make_unique<ops::LocalSlapd>(ops::LocalSlapd::Options{});
        auto seeded = slapd_->apply(seed_ldif(slapd_->suffix()));
        ASSERT_TRUE(seeded.ok()) << seeded.error().message;
    }
    static void TearDownTestSuite() { slapd_.reset(); }

    static ConnectOptions admin() {
        ConnectOptions options;
        options.url = slapd_->url();
        options.bind_dn = slapd_->admin_dn();
        options.password = slapd_->admin_password();
        return options;
    }
    static SearchSpec people() {
        return SearchSpec{"ou=people," + slapd_->suffix(), "(objectClass=inetOrgPerson)",
                          {"*", "entryUUID", "entryCSN"}};
    }
    static std::unique_ptr<SyncConnection> connect() {
        auto connection = SyncConnection::open(admin());
        EXPECT_TRUE(connection.ok()) << connection.error().message;
        return connection.ok() ? std::move(*connection) : nullptr;
    }
    static void apply(const std::string& ldif) {
        auto applied = slapd_->apply(ldif);
        ASSERT_TRUE(applied.ok()) << applied.error().message;
    }
    static std::string dn_of(const std::string& uid) { return "uid=" + uid + ",ou=people," + slapd_->suffix(); }

    // Polls until `done` says so (given every message so far) or 30 s pass.
    static std::vector<SyncMessage> read_until(SyncConnection& connection,
                                               const std::function<bool(const std::vector<SyncMessage>&)>& done,
                                               std::string* cookie = nullptr) {
        std::vector<SyncMessage> all;
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (!done(all) && std::chrono::steady_clock::now() < deadline) {
            auto batch = connection.poll(200ms);
            if (!batch.ok()) {
                ADD_FAILURE() << batch.error().message;
                break;
            }
            for (auto& m : *batch) {
                if (cookie && m.cookie && !m.cookie->empty()) *cookie = *m.cookie;
                all.push_back(std::move(m));
            }
        }
        EXPECT_TRUE(done(all)) << "the server did not say what was expected; " << all.size() << " messages";
        return all;
    }
    static bool refreshed(const std::vector<SyncMessage>& all) {
        return std::any_of(all.begin(), all.end(), [](const SyncMessage& m) {
            return m.kind == SyncMessage::Kind::RefreshDone || m.kind == SyncMessage::Kind::Ended;
        });
    }
    static const SyncMessage* entry_for(const std::vector<SyncMessage>& all, const std::string& dn) {
        for (const auto& m : all) {
            if (m.kind == SyncMessage::Kind::Entry && m.dn == dn) return &m;
        }
        return nullptr;
    }

    static std::unique_ptr<ops::LocalSlapd> slapd_;
};

std::unique_ptr<ops::LocalSlapd> LdapSync::slapd_;

TEST_F(LdapSync, TheInitialRefreshSendsEveryEntryAndThePersistPhaseEachChange) {
    auto connection = connect();
    ASSERT_TRUE(connection);
    auto started = connection->start(people(), std::nullopt);
    ASSERT_TRUE(started.ok()) << started.error().message;
    std::string cookie;
    const auto initial = read_until(*connection, refreshed, &cookie);
    std::set<std::string> uids;
    for (const auto& m : initial) {
        if (m.kind != SyncMessage::Kind::Entry) continue;
        EXPECT_EQ(m.state, SyncState::Add);
        ASSERT_EQ(m.attributes.count("uid"), 1U) << m.dn;
        uids.insert(m.attributes.at("uid").at(0));
        ASSERT_EQ(m.attributes.count("entryuuid"), 1U) << "operational attributes asked for by name";
        EXPECT_EQ(m.attributes.at("entryuuid").at(0), uuid_text(m.uuid)) << "the control's UUID is the entry's";
    }
    EXPECT_EQ(uids.size(), static_cast<std::size_t>(kUsers));
    ASSERT_EQ(initial.back().kind, SyncMessage::Kind::RefreshDone);
    EXPECT_FALSE(cookie.empty()) << "the refresh gave no cookie to resume from";
    const auto* user5 = entry_for(initial, dn_of("user5"));
    ASSERT_NE(user5, nullptr);
    const Uuid uuid5 = user5->uuid;

    // Persist phase: a modify, a rename (same entryUUID, new DN), a delete (the UUID only).
    apply("dn: " + dn_of("user5") + "\nchangetype: modify\nreplace: title\ntitle: Lead\n");
    auto modified = read_until(*connection, [](const auto& all) { return !all.empty(); });
    ASSERT_EQ(modified.size(), 1U);
    EXPECT_EQ(modified[0].state, SyncState::Modify);
    EXPECT_EQ(modified[0].uuid, uuid5);
    EXPECT_EQ(modified[0].attributes.at("title").at(0), "Lead");
    EXPECT_EQ(modified[0].attributes.at("uid").at(0), "user5") << "a modify carries every asked-for attribute";

    apply("dn: " + dn_of("user5") + "\nchangetype: modrdn\nnewrdn: uid=renamed5\ndeleteoldrdn: 1\n");
    auto renamed = read_until(*connection, [](const auto& all) { return !all.empty(); });
    ASSERT_EQ(renamed.size(), 1U);
    EXPECT_EQ(renamed[0].uuid, uuid5);
    EXPECT_EQ(renamed[0].dn, dn_of("renamed5"));

    apply("dn: " + dn_of("renamed5") + "\nchangetype: delete\n");
    auto deleted = read_until(*connection, [](const auto& all) { return !all.empty(); });
    ASSERT_EQ(deleted.size(), 1U);
    EXPECT_EQ(deleted[0].state, SyncState::Delete);
    EXPECT_EQ(deleted[0].uuid, uuid5);
    EXPECT_TRUE(deleted[0].attributes.empty());
}

TEST_F(LdapSync, AStoredCookieResumesWithWhatChangedAndNamesTheEntriesStillThere) {
    std::string cookie;
    std::map<std::string, Uuid> known;  // uid → entryUUID
    {
        auto connection = connect();
        ASSERT_TRUE(connection);
        ASSERT_TRUE(connection->start(people(), std::nullopt).ok());
        for (const auto& m : read_until(*connection, refreshed, &cookie)) {
            if (m.kind == SyncMessage::Kind::Entry) known[m.attributes.at("uid").at(0)] = m.uuid;
        }
    }
    ASSERT_FALSE(cookie.empty());
    ASSERT_TRUE(known.count("user7") && known.count("user8"));
    // While nobody follows: one modify, one delete, one add.
    apply("dn: " + dn_of("user7") + "\nchangetype: modify\nreplace: title\ntitle: Offline change\n");
    apply("dn: " + dn_of("user8") + "\nchangetype: delete\n");
    apply(user_ldif(slapd_->suffix(), 900));

    auto connection = connect();
    ASSERT_TRUE(connection);
    ASSERT_TRUE(connection->start(people(), cookie).ok());
    std::string resumed_cookie;
    const auto resumed = read_until(*connection, refreshed, &resumed_cookie);
    std::set<std::string> sent;
    std::set<Uuid> named;
    bool present_phase = false;
    for (const auto& m : resumed) {
        if (m.kind == SyncMessage::Kind::Entry) {
            sent.insert(m.attributes.at("uid").at(0));
            named.insert(m.uuid);
        }
        if (m.kind == SyncMessage::Kind::Ids) {
            EXPECT_FALSE(m.deleted);
            named.insert(m.uuids.begin(), m.uuids.end());
        }
        if (m.kind == SyncMessage::Kind::RefreshDone) present_phase = m.present_phase;
    }
    EXPECT_EQ(sent, (std::set<std::string>{"user7", "user900"})) << "only what changed is sent again";
    EXPECT_TRUE(present_phase) << "without a session log the server names what is still there";
    EXPECT_EQ(named.count(known["user8"]), 0U) << "the deleted entry is the one not named";
    EXPECT_EQ(named.count(known["user9"]), 1U);
    EXPECT_FALSE(resumed_cookie.empty());
    EXPECT_NE(resumed_cookie, cookie);
}

TEST_F(LdapSync, AKilledServerIsATransientLossAndTheCookieResumesOrAsksForAFullRefresh) {
    std::string cookie;
    auto connection = connect();
    ASSERT_TRUE(connection);
    ASSERT_TRUE(connection->start(people(), std::nullopt).ok());
    (void)read_until(*connection, refreshed, &cookie);
    ASSERT_FALSE(cookie.empty());
    slapd_->kill();
    Result<std::vector<SyncMessage>> lost = std::vector<SyncMessage>{};
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (lost.ok() && std::chrono::steady_clock::now() < deadline) lost = connection->poll(200ms);
    ASSERT_FALSE(lost.ok()) << "the loss of the server went unnoticed";
    EXPECT_EQ(lost.error().kind, ErrorKind::Transient) << lost.error().message;
    connection.reset();

    slapd_->restart();
    auto again = connect();
    ASSERT_TRUE(again);
    ASSERT_TRUE(again->start(people(), cookie).ok());
    const auto resumed = read_until(*again, refreshed);
    if (resumed.back().kind == SyncMessage::Kind::Ended) {
        // A provider killed before it checkpointed its contextCSN holds an older state than the
        // cookie names: it says so, and the only way on is a refresh from no cookie.
        ASSERT_TRUE(resumed.back().refresh_required)
            << (resumed.back().error ? resumed.back().error->message : std::string());
        ASSERT_TRUE(again->start(people(), std::nullopt).ok());
        const auto full = read_until(*again, refreshed);
        EXPECT_EQ(full.back().kind, SyncMessage::Kind::RefreshDone);
        EXPECT_GE(std::count_if(full.begin(), full.end(),
                                [](const SyncMessage& m) { return m.kind == SyncMessage::Kind::Entry; }),
                  kUsers - 2);
    } else {
        for (const auto& m : resumed) EXPECT_NE(m.kind, SyncMessage::Kind::Entry) << "resent after a restart: " << m.dn;
        EXPECT_EQ(resumed.back().kind, SyncMessage::Kind::RefreshDone);
    }
}

TEST_F(LdapSync, ALookupByEntryUuidFindsOnlyWhatExistsInTheSearchWhileTheSyncGoesOn) {
    apply("dn: " + dn_of("confirm1") + "\nobjectClass: inetOrgPerson\nuid: confirm1\ncn: Confirm One\nsn: One\n\n" +
          "dn: " + dn_of("confirm2") + "\nobjectClass: inetOrgPerson\nuid: confirm2\ncn: Confirm Two\nsn: Two\n");
    auto connection = connect();
    ASSERT_TRUE(connection);
    ASSERT_TRUE(connection->start(people(), std::nullopt).ok());
    const SearchSpec groups{"ou=groups," + slapd_->suffix(), "(objectClass=groupOfNames)", {"*", "entryUUID"}};
    ASSERT_TRUE(connection->start(groups, std::nullopt).ok());
    const auto initial = read_until(*connection, [](const auto& all) {
        return std::count_if(all.begin(), all.end(), [](const SyncMessage& m) {
                   return m.kind == SyncMessage::Kind::RefreshDone;
               }) == 2;
    });
    const auto* one = entry_for(initial, dn_of("confirm1"));
    const auto* two = entry_for(initial, dn_of("confirm2"));
    const auto* app = entry_for(initial, "cn=app-crm,ou=groups," + slapd_->suffix());
    ASSERT_TRUE(one && two && app);
    apply("dn: " + dn_of("confirm2") + "\nchangetype: delete\n");

    // Deleted, never existed, or in the other search: not found. The one that exists is read whole.
    const std::vector<std::string> asked{uuid_text(one->uuid), uuid_text(two->uuid), uuid_text(app->uuid),
                                         "00000000-0000-4000-8000-000000000000"};
    auto found = connection->find(people(), asked, 10s);
    ASSERT_TRUE(found.ok()) << found.error().message;
    ASSERT_EQ(found->size(), 1U);
    EXPECT_EQ((*found)[0].uuid, uuid_text(one->uuid));
    EXPECT_EQ((*found)[0].dn, dn_of("confirm1"));
    EXPECT_EQ((*found)[0].attributes.at("uid").at(0), "confirm1");
    auto in_groups = connection->find(groups, asked, 10s);
    ASSERT_TRUE(in_groups.ok()) << in_groups.error().message;
    ASSERT_EQ(in_groups->size(), 1U);
    EXPECT_EQ((*in_groups)[0].uuid, uuid_text(app->uuid));

    // The sync searches' messages that came meanwhile are still there for the next poll.
    const auto deleted = read_until(*connection, [](const auto& all) { return !all.empty(); });
    ASSERT_FALSE(deleted.empty());
    EXPECT_EQ(deleted[0].state, SyncState::Delete);
    EXPECT_EQ(deleted[0].uuid, two->uuid);

    // A refusal is an error that says what, never "not found".
    auto no_base = connection->find(SearchSpec{"ou=nowhere," + slapd_->suffix(), "(objectClass=*)", {}}, asked, 10s);
    ASSERT_FALSE(no_base.ok());
    EXPECT_EQ(no_base.error().kind, ErrorKind::Permanent);
    EXPECT_NE(no_base.error().message.find("ou=nowhere"), std::string::npos) << no_base.error().message;
    auto not_a_uuid = connection->find(people(), {"x)(uid=*"}, 10s);
    ASSERT_FALSE(not_a_uuid.ok());
    EXPECT_EQ(not_a_uuid.error().kind, ErrorKind::Permanent);
}

TEST_F(LdapSync, ARefusedBindIsAnAuthErrorThatNamesTheDnButNotThePassword) {
    auto options = admin();
    options.password = "not-the-password";
    auto connection = SyncConnection::open(options);
    ASSERT_FALSE(connection.ok());
    EXPECT_EQ(connection.error().kind, ErrorKind::Auth);
    EXPECT_NE(connection.error().message.find(slapd_->admin_dn()), std::string::npos) << connection.error().message;
    EXPECT_EQ(connection.error().message.find("not-the-password"), std::string::npos);
}

TEST_F(LdapSync, AnUnreachableServerIsTransient) {
    auto options = admin();
    options.url = "ldap://127.0.0.1:" + std::to_string(ops::pick_free_port());
    auto connection = SyncConnection::open(options);
    ASSERT_FALSE(connection.ok());
    EXPECT_EQ(connection.error().kind, ErrorKind::Transient) << connection.error().message;
}

TEST_F(LdapSync, ABadFilterAndAMissingBaseArePermanentAndSaySo) {
    auto connection = connect();
    ASSERT_TRUE(connection);
    auto bad_filter = connection->start(SearchSpec{"ou=people," + slapd_->suffix(), "(uid=", {}}, std::nullopt);
    ASSERT_FALSE(bad_filter.ok());
    EXPECT_EQ(bad_filter.error().kind, ErrorKind::Permanent);
    EXPECT_NE(bad_filter.error().message.find("(uid="), std::string::npos) << bad_filter.error().message;

    ASSERT_TRUE(connection->start(SearchSpec{"ou=nowhere," + slapd_->suffix(), "(objectClass=*)", {}}, std::nullopt).ok());
    const auto ended = read_until(*connection, refreshed);
    ASSERT_EQ(ended.back().kind, SyncMessage::Kind::Ended);
    ASSERT_TRUE(ended.back().error.has_value());
    EXPECT_EQ(ended.back().error->kind, ErrorKind::Permanent);
    EXPECT_NE(ended.back().error->message.find("does not exist"), std::string::npos) << ended.back().error->message;
}

TEST(LdapSyncWithoutSyncprov, TheSearchIsRefusedWithHowToEnableTheOverlay) {
    ops::LocalSlapd::Options options;
    options.syncprov = false;
    ops::LocalSlapd plain(options);
    ConnectOptions connect;
    connect.url = plain.url();
    connect.bind_dn = plain.admin_dn();
    connect.password = plain.admin_password();
    auto connection = SyncConnection::open(connect);
    ASSERT_TRUE(connection.ok()) << connection.error().message;
    ASSERT_TRUE((*connection)->start(SearchSpec{plain.suffix(), "(objectClass=*)", {}}, std::nullopt).ok());
    std::optional<SyncMessage> ended;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!ended && std::chrono::steady_clock::now() < deadline) {
        auto batch = (*connection)->poll(200ms);
        ASSERT_TRUE(batch.ok()) << batch.error().message;
        for (auto& m : *batch) {
            EXPECT_NE(m.kind, SyncMessage::Kind::Entry) << "a plain search was answered as a sync one";
            if (m.kind == SyncMessage::Kind::Ended) ended = m;
        }
    }
    ASSERT_TRUE(ended.has_value());
    ASSERT_TRUE(ended->error.has_value());
    EXPECT_EQ(ended->error->kind, ErrorKind::Permanent);
    EXPECT_NE(ended->error->message.find("syncprov"), std::string::npos) << ended->error->message;
}

// TLS against a slapd with a certificate from a throwaway CA (IP SAN 127.0.0.1: libldap checks
// the name in the URL), on StartTLS and on ldaps://.
struct TestCa {
    std::string ca, certificate, key;
};

void run_openssl(const std::vector<std::string>& args) {
    ops::ChildProcess::Options o;
    o.argv = {"openssl"};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.merge_stderr = true;
    ops::ChildProcess p(std::move(o));
    std::string out;
    while (auto line = p.read_line(60s)) out += *line + "\n";
    const auto status = p.wait(10s);
    ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << out;
}

TestCa make_test_ca(const std::string& dir) {
    TestCa ca{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key"};
    run_openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/ca.key", "-out", ca.ca, "-days", "2",
                 "-subj", "/CN=provbridge test CA"});
    run_openssl({"req", "-newkey", "rsa:2048", "-nodes", "-keyout", ca.key, "-out", dir + "/server.csr", "-subj",
                 "/CN=127.0.0.1"});
    {
        std::ofstream ext(dir + "/server.ext");
        ext << "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n";
    }
    run_openssl({"x509", "-req", "-in", dir + "/server.csr", "-CA", ca.ca, "-CAkey", dir + "/ca.key", "-CAcreateserial",
                 "-out", ca.certificate, "-days", "2", "-extfile", dir + "/server.ext"});
    return ca;
}

class LdapTls : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = std::make_unique<ops::TempDir>("provbridge-ldap-tls-");
        ca_ = make_test_ca(dir_->path());
        ops::LocalSlapd::Options options;
        options.tls_certificate = ca_.certificate;
        options.tls_key = ca_.key;
        slapd_ = std::make_unique<ops::LocalSlapd>(options);
        std::string ldif = "dn: ou=people," + slapd_->suffix() + "\nobjectClass: organizationalUnit\nou: people\n\n";
        for (int i = 0; i < 3; ++i) ldif += user_ldif(slapd_->suffix(), i);
        auto seeded = slapd_->apply(ldif);
        ASSERT_TRUE(seeded.ok()) << seeded.error().message;
    }
    static void TearDownTestSuite() {
        slapd_.reset();
        dir_.reset();
    }
    static ConnectOptions options(const std::string& url, bool start_tls, bool with_ca) {
        ConnectOptions o;
        o.url = url;
        o.start_tls = start_tls;
        if (with_ca) o.ca_file = ca_.ca;
        o.bind_dn = slapd_->admin_dn();
        o.password = slapd_->admin_password();
        return o;
    }
    // Opens, syncs the people and counts the entries of the refresh.
    static int synced_entries(const ConnectOptions& o) {
        auto connection = SyncConnection::open(o);
        if (!connection.ok()) {
            ADD_FAILURE() << connection.error().message;
            return -1;
        }
        auto started = (*connection)->start(
            SearchSpec{"ou=people," + slapd_->suffix(), "(objectClass=inetOrgPerson)", {"*", "entryUUID"}}, std::nullopt);
        if (!started.ok()) {
            ADD_FAILURE() << started.error().message;
            return -1;
        }
        int entries = 0;
        bool done = false;
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (!done && std::chrono::steady_clock::now() < deadline) {
            auto batch = (*connection)->poll(200ms);
            if (!batch.ok()) {
                ADD_FAILURE() << batch.error().message;
                return -1;
            }
            for (const auto& m : *batch) {
                if (m.kind == SyncMessage::Kind::Entry) ++entries;
                if (m.kind == SyncMessage::Kind::RefreshDone || m.kind == SyncMessage::Kind::Ended) done = true;
            }
        }
        return entries;
    }

    static std::unique_ptr<ops::TempDir> dir_;
    static TestCa ca_;
    static std::unique_ptr<ops::LocalSlapd> slapd_;
};

std::unique_ptr<ops::TempDir> LdapTls::dir_;
TestCa LdapTls::ca_;
std::unique_ptr<ops::LocalSlapd> LdapTls::slapd_;

TEST_F(LdapTls, StartTlsAndLdapsSyncWithTheServersCertificateVerifiedAgainstTheCa) {
    EXPECT_EQ(synced_entries(options(slapd_->url(), true, true)), 3);
    EXPECT_EQ(synced_entries(options(slapd_->ldaps_url(), false, true)), 3);
}

TEST_F(LdapTls, ACertificateThatDoesNotVerifyIsRefusedAndSaysSo) {
    // The system's CAs do not know the throwaway one.
    for (const auto& o : {options(slapd_->url(), true, false), options(slapd_->ldaps_url(), false, false)}) {
        auto connection = SyncConnection::open(o);
        ASSERT_FALSE(connection.ok()) << o.url << " was accepted without its CA";
        EXPECT_EQ(connection.error().kind, ErrorKind::Permanent) << connection.error().message;
        EXPECT_NE(connection.error().message.find(o.url), std::string::npos) << connection.error().message;
        EXPECT_NE(connection.error().message.find("certificate"), std::string::npos) << connection.error().message;
        EXPECT_EQ(connection.error().message.find(slapd_->admin_password()), std::string::npos);
    }
    // A server that is not there is still a transient loss on ldaps://, not a certificate.
    auto absent = options("ldaps://127.0.0.1:" + std::to_string(ops::pick_free_port()), false, true);
    auto unreachable = SyncConnection::open(absent);
    ASSERT_FALSE(unreachable.ok());
    EXPECT_EQ(unreachable.error().kind, ErrorKind::Transient) << unreachable.error().message;
    // Switched off, the same server is accepted: the operator chose so (tls_verify false).
    auto unverified = options(slapd_->url(), true, false);
    unverified.verify_tls = false;
    EXPECT_EQ(synced_entries(unverified), 3);
}

}  // namespace
}  // namespace provbridge::producers::ldap
