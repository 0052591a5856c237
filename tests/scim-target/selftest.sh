#!/usr/bin/env bash
# Self-test for the provbridge SCIM test target.
# Starts server.js on an ephemeral port, exercises it with curl, stops it.
# Exits non-zero if any check fails. Needs: bash, curl, node (JSON checks).
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

if [ ! -d node_modules ]; then
    echo "# node_modules missing: running npm ci" >&2
    npm ci --no-audit --no-fund >&2 || { echo "npm ci failed" >&2; exit 1; }
fi

TOKEN="selftest-$RANDOM$RANDOM"
WORK="$(mktemp -d)"
PID=""
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
    if [ -n "${JSEVAL_PID-}" ] && kill -0 "$JSEVAL_PID" 2>/dev/null; then kill "$JSEVAL_PID" 2>/dev/null; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PASS=0
FAIL=0
ok()  { PASS=$((PASS + 1)); echo "ok   - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; if [ -n "${2-}" ]; then echo "       $2"; fi; }

# ---------------------------------------------------------------- helpers

# One node process (a coprocess) evaluates every JS expression below: starting
# node for each check would cost ~0.1 s apiece. Protocol, in bytes:
#   request  "<len expr> <len input>\n<expr><input>"
#   reply    "<len result>\n<result>"
# The expression sees b = input parsed as JSON (undefined if it is not JSON,
# null if empty) and s = the input as a string.
coproc JSEVAL { exec node -e '
    let buf = Buffer.alloc(0);
    process.stdin.on("data", d => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
            const nl = buf.indexOf(10);
            if (nl < 0) return;
            const [le, li] = buf.subarray(0, nl).toString().split(" ").map(Number);
            if (buf.length < nl + 1 + le + li) return;
            const expr = buf.subarray(nl + 1, nl + 1 + le).toString("utf8");
            const src = buf.subarray(nl + 1 + le, nl + 1 + le + li).toString("utf8");
            buf = buf.subarray(nl + 1 + le + li);
            let b = null; try { b = src.trim() ? JSON.parse(src) : null; } catch { b = undefined; }
            let r; try { r = new Function("b", "s", "return (" + expr + ");")(b, src); } catch (e) { r = "<error: " + e.message + ">"; }
            const out = Buffer.from(typeof r === "string" ? r : String(JSON.stringify(r)), "utf8");
            process.stdout.write(out.length + "\n");
            process.stdout.write(out);
        }
    });'; }
JSEVAL_OUT="${JSEVAL[0]}"; JSEVAL_IN="${JSEVAL[1]}"

# jseval EXPR INPUT: raw call to the evaluator
jseval() {
    local LC_ALL=C          # byte lengths, byte reads
    local len out=""
    printf '%d %d\n%s%s' "${#1}" "${#2}" "$1" "$2" >&"$JSEVAL_IN"
    IFS= read -r len <&"$JSEVAL_OUT" || { echo "<evaluator gone>"; return; }
    if [ "$len" -gt 0 ]; then IFS= read -r -d '' -N "$len" out <&"$JSEVAL_OUT"; fi
    printf '%s' "$out"
}

# js EXPR [JSON]: evaluate a JS expression over b = parsed JSON (default: last body)
js() {
    if [ $# -ge 2 ]; then jseval "$1" "$2"; else jseval "$1" "$BODY"; fi
}

# enc STRING: percent-encode for a query value
enc() { jseval 'encodeURIComponent(s)' "$1"; }

# json EXPR: build a JSON document with node (for bodies containing awkward strings)
json() { jseval "JSON.stringify($1)" ""; }

# req METHOD URL [BODY [CONTENT-TYPE]]  (uses the bearer token; AUTH="" to omit, AUTH=x to override)
req() {
    local method="$1" url="$2" body="${3-}" ctype="${4-application/scim+json}"
    local args=(-s -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X "$method")
    local auth="${AUTH-Bearer $TOKEN}"
    if [ -n "$auth" ]; then args+=(-H "Authorization: $auth"); fi
    if [ -n "$body" ]; then args+=(-H "Content-Type: $ctype" --data-binary "$body"); fi
    STATUS="$(curl "${args[@]}" "$url")"
    BODY="$(cat "$WORK/body")"
    HEADERS="$(cat "$WORK/headers")"
}
scim()  { req "$1" "$BASE$2" "${3-}" "${4-application/scim+json}"; }
admin() { req "$1" "$ORIGIN/_admin$2" "${3-}" "application/json"; }

expect_status() {
    if [ "$STATUS" = "$1" ]; then ok "$2"; else bad "$2" "expected HTTP $1, got $STATUS: ${BODY:0:400}"; fi
}
# expect_js EXPR EXPECTED DESC
expect_js() {
    local got
    got="$(js "$1")"
    if [ "$got" = "$2" ]; then ok "$3"; else bad "$3" "expected ($1) = $2, got $got  [HTTP $STATUS: ${BODY:0:300}]"; fi
}
expect_header() {
    if grep -qi "^$1: *$2" <<<"$HEADERS"; then ok "$3"; else bad "$3" "header $1 not '$2' in: $(tr -d '\r' <<<"$HEADERS" | tr '\n' '|')"; fi
}
# status + SCIM error body with given status string (and optional scimType)
expect_scim_error() {
    local st="$1" type="$2" desc="$3"
    expect_status "$st" "$desc: HTTP $st"
    local want="true"
    local expr="b && b.schemas && b.schemas[0] === 'urn:ietf:params:scim:api:messages:2.0:Error' && b.status === '$st'"
    if [ -n "$type" ]; then expr="$expr && b.scimType === '$type'"; fi
    expect_js "$expr" "$want" "$desc: SCIM Error body (status \"$st\"${type:+, scimType $type})"
}

PATCHOP='"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]'
ENT='urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'
CORE='urn:ietf:params:scim:schemas:core:2.0:User'
patch() { scim PATCH "/Users/$1" "{$PATCHOP,\"Operations\":$2}"; }

# ---------------------------------------------------------------- startup

if env -u SCIM_TARGET_TOKEN node server.js --port 0 >"$WORK/notoken.out" 2>"$WORK/notoken.err"; then
    bad "refuses to start without a token" "exit code 0"
elif grep -qi "token" "$WORK/notoken.err"; then
    ok "refuses to start without a token (clear message on stderr)"
else
    bad "refuses to start without a token" "stderr: $(cat "$WORK/notoken.err")"
fi

# start_server MODE [ARGS...]: start server.js in the background with
# SCIM_TARGET_BEHAVE_LIKE=MODE (unset if MODE is empty) and wait for the ready
# line. Sets PID, ORIGIN and BASE; exits if the server does not come up.
start_server() {
    local mode="$1"; shift
    local envargs=(-u SCIM_TARGET_BEHAVE_LIKE)
    if [ -n "$mode" ]; then envargs=(SCIM_TARGET_BEHAVE_LIKE="$mode"); fi
    : >"$WORK/stdout"; : >"$WORK/stderr"
    env "${envargs[@]}" SCIM_TARGET_TOKEN="$TOKEN" node server.js --port 0 --host 127.0.0.1 "$@" >"$WORK/stdout" 2>"$WORK/stderr" &
    PID=$!
    local line=""
    for _ in $(seq 1 100); do
        line="$(head -n1 "$WORK/stdout" 2>/dev/null || true)"
        [ -n "$line" ] && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ "$line" =~ ^SCIM\ target\ listening\ on\ http://127\.0\.0\.1:([0-9]+)/scim/v2$ ]]; then
        ORIGIN="http://127.0.0.1:${BASH_REMATCH[1]}"
        BASE="$ORIGIN/scim/v2"
        ok "ready line${*:+ ($*)}${mode:+ (env mode $mode)}: $line"
    else
        bad "ready line${*:+ ($*)}" "got '$line'; stderr: $(cat "$WORK/stderr")"
        echo "$PASS passed, $FAIL failed"
        exit 1
    fi
}

# stop_server LABEL: SIGTERM, expect a clean exit and nothing but the ready line on stdout.
stop_server() {
    kill -TERM "$PID"
    local exited=""
    for _ in $(seq 1 30); do
        if ! kill -0 "$PID" 2>/dev/null; then exited=1; break; fi
        sleep 0.1
    done
    if [ -n "$exited" ]; then
        wait "$PID"; local rc=$?
        if [ "$rc" = 0 ]; then ok "$1: SIGTERM: clean exit"; else bad "$1: SIGTERM: clean exit" "exit code $rc"; fi
    else
        bad "$1: SIGTERM: clean exit" "still running after 3s"
    fi
    PID=""
    if [ "$(wc -l <"$WORK/stdout")" = 1 ]; then ok "$1: nothing but the ready line on stdout"; else bad "$1: stdout quiet" "$(cat "$WORK/stdout")"; fi
    if [ -s "$WORK/stderr" ]; then echo "# server stderr ($1):"; sed 's/^/#   /' "$WORK/stderr"; fi
}

if env -u SCIM_TARGET_BEHAVE_LIKE SCIM_TARGET_TOKEN="$TOKEN" node server.js --port 0 --behave-like nosuchapp >"$WORK/badmode.out" 2>"$WORK/badmode.err"; then
    bad "refuses an unknown --behave-like mode" "exit code 0"
elif grep -q "nosuchapp" "$WORK/badmode.err"; then
    ok "refuses an unknown --behave-like mode (message on stderr)"
else
    bad "refuses an unknown --behave-like mode" "stderr: $(cat "$WORK/badmode.err")"
fi

echo "# ---- mode: generic (default)"
start_server ""

admin GET /behavior
expect_js "b.mode" "generic" "GET /_admin/behavior: generic by default"

# ---------------------------------------------------------------- auth

AUTH="" scim GET /Users
expect_scim_error 401 "" "no Authorization header"
expect_header "WWW-Authenticate" "Bearer" "401 carries WWW-Authenticate: Bearer"
AUTH="Bearer wrong-$TOKEN" scim GET /Users
expect_scim_error 401 "" "wrong bearer token"
AUTH="" admin GET /users
expect_status 401 "admin endpoint without token: 401"

# ---------------------------------------------------------------- discovery

scim GET /ServiceProviderConfig
expect_status 200 "ServiceProviderConfig"
expect_header "Content-Type" "application/scim+json" "Content-Type application/scim+json"
expect_js "[b.patch.supported, b.filter.supported, b.bulk.supported]" "[true,true,false]" "SPC: patch+filter supported, bulk not"
scim GET /ResourceTypes
expect_js "b.Resources.map(r => r.name).sort().join(',')" "Group,User" "ResourceTypes: User, Group"
expect_js "b.Resources.find(r => r.name === 'User').schemaExtensions[0].schema" "$ENT" "User resource type has the Enterprise extension"
scim GET /Schemas
expect_js "b.Resources.some(s => s.id === '$ENT')" "true" "Schemas lists the Enterprise User schema"

# ---------------------------------------------------------------- create + filter

WEIRD='a"b\c ünï'
U1_BODY="$(json "{schemas:['$CORE','$ENT'], userName: 'a\"b\\\\c ünï', externalId: 'ext-1', name: {givenName: 'Ada', familyName: 'Lovelace'}, displayName: 'Ada L', active: true, emails: [{type: 'work', value: 'Ada.Lovelace@Example.com', primary: true}], '$ENT': {employeeNumber: '1001', department: 'R&D'}}")"
scim POST /Users "$U1_BODY"
expect_status 201 "POST /Users (userName with quote, backslash, unicode)"
U1="$(js b.id)"
expect_js "b.userName" "$WEIRD" "stored userName round-trips exactly"
expect_js "[typeof b.meta.created, typeof b.meta.lastModified, b.meta.version, b.meta.resourceType, b.meta.location.endsWith('/scim/v2/Users/' + b.id)]" \
    '["string","string","W/\"1\"","User",true]' "meta.created/lastModified/version/resourceType/location"
expect_header "Content-Type" "application/scim+json" "POST response Content-Type application/scim+json"

F="$(enc 'userName eq "a\"b\\c ÜNÏ"')"
scim GET "/Users?filter=$F"
expect_status 200 "GET filter userName eq (JSON-escaped, other case)"
expect_js "[b.totalResults, b.Resources.length, b.Resources[0] && b.Resources[0].id]" "[1,1,\"$U1\"]" "filter finds exactly the user (case-insensitive, escapes decoded)"
expect_js "b.schemas[0]" "urn:ietf:params:scim:api:messages:2.0:ListResponse" "ListResponse schema"

scim GET "/Users?filter=$(enc 'userName eq "a\"b\\\\c ünï"')"
expect_js "b.totalResults" "0" "filter with a different (doubled) backslash does not match"
scim GET "/Users?filter=$(enc 'externalId eq "ext-1"')"
expect_js "b.totalResults" "1" "filter externalId eq"
scim GET "/Users?filter=$(enc 'externalId eq "EXT-1"')"
expect_js "b.totalResults" "0" "externalId is caseExact"
scim GET "/Users?filter=$(enc 'emails[type eq "work"].value eq "ada.lovelace@example.com"')"
expect_js "b.totalResults" "1" "filter emails[type eq \"work\"].value eq (case-insensitive)"
scim GET "/Users?filter=$(enc 'emails[type eq "home"].value eq "ada.lovelace@example.com"')"
expect_js "b.totalResults" "0" "value filter on another type does not match"
scim GET "/Users?filter=$(enc 'userName eq "A\"B\\C ünï" and active eq true')"
expect_js "b.totalResults" "1" "filter with 'and'"
scim GET "/Users?filter=$(enc "$ENT:department eq \"r&d\"")"
expect_js "b.totalResults" "1" "filter on URN-qualified enterprise attribute"
scim GET "/Users?filter=$(enc 'userName eq')"
expect_scim_error 400 invalidFilter "malformed filter"
scim GET "/Users?filter=$(enc 'userName sw "a" or userName eq "zzz"')"
expect_status 200 "filter outside the fast path falls through to SCIMMY"

# strict input
scim POST /Users "{\"schemas\":[\"$CORE\"],\"userName\":\"strict-1\",\"active\":\"False\"}"
expect_scim_error 400 "" "POST active as string \"False\" rejected"
scim POST /Users "{\"schemas\":[\"$CORE\",\"$ENT\"],\"userName\":\"strict-2\",\"$ENT\":{\"manager\":\"$U1\"}}"
expect_scim_error 400 "" "POST manager as bare id rejected"
scim POST /Users "{\"userName\":"
expect_scim_error 400 invalidSyntax "POST with invalid JSON"
scim POST /Users "{\"schemas\":[\"$CORE\",\"$ENT\"],\"userName\":\"strict-3\",\"$ENT\":{\"manager\":{\"value\":\"no-such-user\"}}}"
expect_scim_error 400 invalidValue "POST manager that is not an existing user rejected"

# uniqueness
scim POST /Users "$(json "{schemas:['$CORE'], userName: 'A\"B\\\\C ÜNÏ'}")"
expect_scim_error 409 uniqueness "duplicate userName (other case) on POST"

# application/json accepted
scim POST /Users "{\"schemas\":[\"$CORE\"],\"userName\":\"bob@example.com\",\"active\":true}" "application/json"
expect_status 201 "POST with Content-Type application/json"
U2="$(js b.id)"

# ---------------------------------------------------------------- GET by id / odd ids

scim GET "/Users/$U1"
expect_status 200 "GET /Users/{id}"
scim GET "/Users/$(enc 'no"such')"
expect_scim_error 404 "" "GET id containing a quote"
scim GET "/Users/does-not-exist"
expect_scim_error 404 "" "GET unknown id"

# ---------------------------------------------------------------- PATCH forms

patch "$U1" '[{"op":"replace","path":"active","value":false}]'
expect_status 200 "PATCH replace active false"
expect_js "b.active" "false" "active is false"
scim GET "/Users/$U1"
expect_js "[b.id, b.active]" "[\"$U1\",false]" "GET returns the inactive user"

patch "$U1" '[{"op":"replace","path":"displayName","value":"Countess"}]'
expect_js "b.displayName" "Countess" "PATCH replace displayName"
patch "$U1" '[{"op":"replace","path":"name.givenName","value":"Augusta"}]'
expect_js "[b.name.givenName, b.name.familyName]" '["Augusta","Lovelace"]' "PATCH replace name.givenName"
patch "$U1" '[{"op":"replace","path":"emails[type eq \"work\"].value","value":"ada@example.org"}]'
expect_js "b.emails.filter(e => e.type === 'work').map(e => e.value)" '["ada@example.org"]' "PATCH replace emails[type eq \"work\"].value"
patch "$U1" '[{"op":"replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"+44 20 7946 0000"}]'
expect_js "b.phoneNumbers" '[{"value":"+44 20 7946 0000","type":"mobile"}]' "PATCH replace phoneNumbers[type eq \"mobile\"].value (creates it)"
patch "$U1" '[{"op":"replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"+44 20 7946 0001"}]'
expect_js "b.phoneNumbers" '[{"value":"+44 20 7946 0001","type":"mobile"}]' "PATCH replace phoneNumbers[type eq \"mobile\"].value (updates it)"
patch "$U1" '[{"op":"add","path":"emails","value":[{"type":"home","value":"ada@home.example"}]}]'
expect_js "b.emails.map(e => e.type).join(',')" "work,home" "PATCH add emails (array value)"
patch "$U1" '[{"op":"remove","path":"emails[type eq \"work\"]"}]'
expect_js "b.emails.map(e => e.type).join(',')" "home" "PATCH remove emails[type eq \"work\"]"
patch "$U1" '[{"op":"add","path":"emails[type eq \"work\"].value","value":"ada@work.example"}]'
expect_js "b.emails.filter(e => e.type === 'work').map(e => e.value)" '["ada@work.example"]' "PATCH add emails[type eq \"work\"].value (creates it)"
patch "$U1" "[{\"op\":\"replace\",\"path\":\"$ENT:department\",\"value\":\"Analytics\"}]"
expect_js "b['$ENT'].department" "Analytics" "PATCH replace enterprise department"
patch "$U1" "[{\"op\":\"add\",\"path\":\"$ENT:employeeNumber\",\"value\":\"2002\"}]"
expect_js "b['$ENT'].employeeNumber" "2002" "PATCH add enterprise employeeNumber"
patch "$U1" "[{\"op\":\"replace\",\"value\":{\"active\":true,\"displayName\":\"Ada\",\"name.familyName\":\"King\",\"$ENT:department\":\"Engines\"}}]"
expect_js "[b.active, b.displayName, b.name.familyName, b['$ENT'].department]" '[true,"Ada","King","Engines"]' "PATCH path-less replace with value object"
patch "$U1" "[{\"op\":\"replace\",\"value\":{\"$ENT\":{\"department\":\"Looms\"}}}]"
expect_js "b['$ENT'].department" "Looms" "PATCH path-less replace with extension object"
patch "$U1" '[{"op":"Replace","path":"active","value":false}]'
expect_js "b.active" "false" "PATCH op name is case-insensitive"
patch "$U1" "[{\"op\":\"add\",\"path\":\"$ENT:manager\",\"value\":{\"value\":\"$U2\"}}]"
expect_js "b['$ENT'].manager.value" "$U2" "PATCH add manager as complex value"

scim GET "/Users/$U1"
V_BEFORE="$(js 'b.meta.version + "|" + b.meta.lastModified')"
patch "$U1" '[{"op":"replace","path":"active","value":false}]'
expect_status 200 "no-op PATCH answers 200"
expect_js 'b.meta.version + "|" + b.meta.lastModified' "$V_BEFORE" "no-op PATCH keeps meta.version and lastModified"
patch "$U1" '[{"op":"replace","path":"active","value":true}]'
expect_js "b.meta.version !== '${V_BEFORE%%|*}'" "true" "real PATCH bumps meta.version"

patch "$U1" '[{"op":"replace","path":"active","value":"False"}]'
expect_scim_error 400 "" "PATCH active as string \"False\" rejected"
patch "$U1" "[{\"op\":\"add\",\"path\":\"$ENT:manager\",\"value\":\"$U2\"}]"
expect_scim_error 400 "" "PATCH manager as bare id rejected"
patch "$U1" "[{\"op\":\"replace\",\"path\":\"$ENT:manager\",\"value\":{\"value\":\"no-such-user\"}}]"
expect_scim_error 400 invalidValue "PATCH manager that is not an existing user rejected"
patch "$U1" '[{"op":"replace","path":"userName","value":"BOB@example.com"}]'
expect_scim_error 409 uniqueness "PATCH to a duplicate userName"
patch "does-not-exist" '[{"op":"replace","path":"active","value":true}]'
expect_scim_error 404 "" "PATCH unknown id"
scim GET "/Users/$U1"
expect_js "b.userName" "$WEIRD" "failed PATCHes left the user unchanged"

# ---------------------------------------------------------------- paging

for i in 1 2 3; do scim POST /Users "{\"schemas\":[\"$CORE\"],\"userName\":\"page-$i\"}"; done
scim GET "/Users?startIndex=2&count=2"
expect_js "[b.totalResults, b.startIndex, b.itemsPerPage, b.Resources.length]" "[5,2,2,2]" "paging startIndex=2 count=2"
scim GET "/Users?startIndex=100&count=10"
expect_js "[b.totalResults, b.Resources.length]" "[5,0]" "startIndex past the end: empty Resources"
scim GET "/Users?startIndex=100&count=10&sortBy=userName"
expect_js "[b.totalResults, b.Resources.length]" "[5,0]" "startIndex past the end (SCIMMY path, sortBy): empty Resources"
scim GET "/Users?filter=$(enc 'userName sw "page-"')&startIndex=10"
expect_js "[b.totalResults, b.Resources.length]" "[3,0]" "startIndex past the end (SCIMMY filter path): empty Resources"
scim GET "/Users?count=0"
expect_js "[b.totalResults, b.Resources.length]" "[5,0]" "count=0 returns only totalResults"
scim GET "/Users?attributes=userName&count=1"
expect_js "Object.keys(b.Resources[0]).sort().join(',')" "id,userName" "attributes=userName"

# ---------------------------------------------------------------- groups

scim POST /Groups "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"Engineers\"}"
expect_status 201 "POST /Groups"
G1="$(js b.id)"
scim POST /Groups "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"ENGINEERS\"}"
expect_scim_error 409 uniqueness "duplicate group displayName"
scim GET "/Groups?filter=$(enc 'displayName eq "engineers"')"
expect_js "[b.totalResults, b.Resources[0] && b.Resources[0].id]" "[1,\"$G1\"]" "filter Groups by displayName"
scim PATCH "/Groups/$G1" "{$PATCHOP,\"Operations\":[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"$U1\"},{\"value\":\"$U2\"}]}]}"
expect_js "b.members.map(m => m.value).sort().join(',')" "$(printf '%s\n' "$U1" "$U2" | sort | paste -sd,)" "PATCH add group members"
scim PATCH "/Groups/$G1" "{$PATCHOP,\"Operations\":[{\"op\":\"remove\",\"path\":\"members[value eq \\\"$U1\\\"]\"}]}"
expect_js "b.members.map(m => m.value).join(',')" "$U2" "PATCH remove group member"

# ---------------------------------------------------------------- delete

scim DELETE "/Users/$U2"
expect_status 204 "DELETE /Users/{id}"
scim GET "/Users/$U2"
expect_scim_error 404 "" "GET after DELETE"
scim DELETE "/Users/$U2"
expect_scim_error 404 "" "DELETE again"
scim GET "/Groups/$G1"
expect_js "b.members === undefined" "true" "deleted user removed from group members"
patch "$U1" '[{"op":"replace","path":"title","value":"Countess of Lovelace"}]'
expect_js "[b.title, b['$ENT'].manager.value]" "[\"Countess of Lovelace\",\"$U2\"]" "PATCH still works while the manager reference dangles (deleted manager)"
scim DELETE "/Groups/$G1"
expect_status 204 "DELETE /Groups/{id}"
scim GET "/Groups/$G1"
expect_scim_error 404 "" "GET group after DELETE"

# ---------------------------------------------------------------- faults

admin POST /faults '{"status":503,"count":2,"retryAfter":"2","match":"POST /Users"}'
expect_status 201 "POST /_admin/faults"
admin GET /stats
USERS_BEFORE="$(js b.users)"
scim POST /Users "{\"schemas\":[\"$CORE\"],\"userName\":\"fault-1\"}"
expect_scim_error 503 "" "fault injected on POST /Users"
expect_header "Retry-After" "2" "fault carries Retry-After"
scim GET "/Users?count=1"
expect_status 200 "non-matching route not faulted"
scim POST /Users "{\"schemas\":[\"$CORE\"],\"userName\":\"fault-1\"}"
expect_scim_error 503 "" "second matching request faulted"
admin GET /stats
expect_js "b.users" "$USERS_BEFORE" "faulted requests did not touch the store"
scim POST /Users "{\"schemas\":[\"$CORE\"],\"userName\":\"fault-1\"}"
expect_status 201 "fault count exhausted"
admin POST /faults '{"status":429,"count":5}'
scim GET "/Users/$U1"
expect_scim_error 429 "" "fault with any route (429)"
admin DELETE /faults
expect_status 204 "DELETE /_admin/faults"
scim GET "/Users/$U1"
expect_status 200 "faults cleared"

# ---------------------------------------------------------------- admin

admin GET /users
expect_status 200 "GET /_admin/users"
WEIRD_JS="$(json "'a\"b\\\\c ünï'")"
expect_js "Array.isArray(b) && b.length === 5 && b.some(u => u.id === '$U1' && u.userName === $WEIRD_JS)" "true" "/_admin/users lists every user"
admin GET /groups
expect_js "Array.isArray(b) && b.length" "0" "/_admin/groups"
admin GET /stats
expect_js "b.byRoute['POST /Users'] >= 8 && b.byRoute['PATCH /Users/{id}'] >= 20 && b.byRoute['GET /Users/{id}'] >= 4 && b.byRoute['DELETE /Users/{id}'] === 2 && b.byRoute['GET /Users'] >= 10" "true" "/_admin/stats byRoute"
expect_js "b.byStatus['409'] >= 3 && b.byStatus['503'] === 2 && b.byStatus['401'] === 2 && b.requests > 60" "true" "/_admin/stats byStatus and requests"
scim GET "/Users?filter=$F&count=5"
scim POST /Users "$(json "{schemas:['$CORE'], userName: 'log-\"q\"'}")"
admin GET "/requests?limit=2"
expect_js "b.length" "2" "/_admin/requests?limit=2"
expect_js "[b[0].method, b[0].path, b[0].query.filter, b[0].query.count, b[0].body, b[0].status]" \
    "$(json "['GET', '/Users', 'userName eq \"a\\\\\"b\\\\\\\\c ÜNÏ\"', '5', null, 200]")" "request log: GET with decoded query, null body"
expect_js "[b[1].method, b[1].path, b[1].body.userName, b[1].status]" '["POST","/Users","log-\"q\"",201]' "request log: POST with parsed body"
expect_js "typeof b[0].at === 'number' && b[0].at <= b[1].at && Math.abs(b[1].at - Date.now()) < 60000" "true" "request log: arrival times, in order"
admin GET "/requests?limit=1000"
if grep -q "$TOKEN" <<<"$BODY"; then bad "request log never stores the token"; else ok "request log never stores the token"; fi
expect_js "b.every(e => !('headers' in e))" "true" "request log has no headers"

admin POST /reset
expect_status 204 "POST /_admin/reset"
admin GET /users
expect_js "b.length" "0" "reset cleared users"
admin GET /stats
expect_js "[b.requests, Object.keys(b.byRoute).length]" "[0,0]" "reset cleared counters"
scim POST /Users "$U1_BODY"
expect_status 201 "same userName can be created again after reset"

# ---------------------------------------------------------------- faults: probability, drop; latency; token rotation

# treq METHOD URL [BODY]: like scim/admin (full URL), also sets CURL_RC and TIME (curl's %{time_total}, seconds)
treq() {
    local method="$1" url="$2" body="${3-}"
    local args=(-s -o "$WORK/body" -w '%{http_code} %{time_total}' -X "$method" --max-time 30)
    local auth="${AUTH-Bearer $TOKEN}"
    if [ -n "$auth" ]; then args+=(-H "Authorization: $auth"); fi
    if [ -n "$body" ]; then args+=(-H "Content-Type: application/scim+json" --data-binary "$body"); fi
    local out
    rm -f "$WORK/body"
    out="$(curl "${args[@]}" "$url")"; CURL_RC=$?
    STATUS="${out%% *}"; TIME="${out#* }"
    BODY="$(cat "$WORK/body" 2>/dev/null || true)"
}
# expect_time EXPR DESC: EXPR over t = TIME (seconds)
expect_time() {
    if [ "$(jseval "(t => $1)(Number(s))" "$TIME")" = "true" ]; then ok "$2 (${TIME}s)"; else bad "$2" "time_total ${TIME}s, wanted $1 [HTTP $STATUS]"; fi
}
# statuses N METHOD PATH: STATUSES = space-separated statuses of N sequential SCIM requests
FAULTED=0   # injected error answers seen in this section
statuses() {
    local n="$1" method="$2" path="$3" out=""
    for _ in $(seq 1 "$n"); do
        scim "$method" "$path"
        out+="${out:+ }$STATUS"
        if [ "$STATUS" != 200 ]; then FAULTED=$((FAULTED + 1)); fi
    done
    STATUSES="$out"
}
# mulberry32 SEED P N: the documented hit sequence (503 = hit, 200 = miss)
mulberry32() {
    jseval "(() => { let a = $1 >>> 0; const r = () => { a = (a + 0x6D2B79F5) | 0; let t = Math.imul(a ^ (a >>> 15), 1 | a);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
        return Array.from({length: $3}, () => r() < $2 ? 503 : 200).join(' '); })()" ""
}

admin POST /reset
expect_status 204 "POST /_admin/reset before the fault/latency/token checks"
admin GET /stats
expect_js "[b.delayed, JSON.stringify(b.faults)]" '[0,"{\"applied\":0,\"answered\":0,\"dropped\":0,\"skipped\":0}"]' "/_admin/stats: delayed and faults counters start at 0"

# probability + seed
admin POST /faults '{"status":503,"probability":0.5,"seed":42,"match":"GET /Users"}'
expect_status 201 "POST /_admin/faults with probability and seed"
expect_js "JSON.stringify(b)" '[{"status":503,"match":"GET /Users","probability":0.5,"seed":42,"count":null}]' "probabilistic rule listed (count null = until removed)"
scim POST /Users "{\"schemas\":[\"$CORE\"],\"userName\":\"random-1\"}"
RU="$(js b.id)"
statuses 20 GET "/Users?count=1"
SEQ1="$STATUSES"
scim GET "/Users/$RU"
expect_status 200 "probabilistic rule leaves other routes alone"
admin GET /faults
expect_js "b.length === 1 && b[0].count === null" "true" "probabilistic rule without count is still there after 20 requests"
admin DELETE /faults
admin POST /faults '{"status":503,"probability":0.5,"seed":42,"match":"GET /Users"}'
statuses 20 GET "/Users?count=1"
SEQ2="$STATUSES"
if [ "$SEQ1" = "$SEQ2" ]; then ok "same seed, same sequence twice: $SEQ1"; else bad "same seed, same sequence twice" "$SEQ1 / $SEQ2"; fi
if [[ " $SEQ1 " == *" 200 "* && " $SEQ1 " == *" 503 "* ]]; then ok "p=0.5 sequence has hits and misses"; else bad "p=0.5 sequence has hits and misses" "$SEQ1"; fi
EXPECTED_SEQ="$(mulberry32 42 0.5 20)"
if [ "$SEQ1" = "$EXPECTED_SEQ" ]; then ok "sequence is mulberry32(seed), hit when next() < p"; else bad "sequence is mulberry32(seed)" "got $SEQ1, expected $EXPECTED_SEQ"; fi
admin DELETE /faults
# a miss falls through to the next rule
admin POST /faults '{"status":503,"probability":0.5,"seed":42,"match":"GET /Users"}'
admin POST /faults '{"status":429,"count":100}'
expect_js "b.map(f => f.status + ':' + f.count).join(',')" "503:null,429:100" "two rules queued"
statuses 20 GET "/Users?count=1"
if [ "$STATUSES" = "${SEQ1//200/429}" ]; then ok "requests the probabilistic rule misses fall through to the next rule"; else bad "misses fall through to the next rule" "got $STATUSES, expected ${SEQ1//200/429}"; fi
admin DELETE /faults
# probability + count: stops after count hits
admin POST /faults '{"status":500,"probability":0.5,"seed":7,"count":3,"match":"GET /Users"}'
expect_js "[b[0].count, b[0].seed]" "[3,7]" "probabilistic rule with count"
N500=0
for i in $(seq 1 60); do
    scim GET "/Users?count=1"
    if [ "$STATUS" = 500 ]; then N500=$((N500 + 1)); FAULTED=$((FAULTED + 1)); fi
    admin GET /faults
    [ "$(js b.length)" = 0 ] && break
done
if [ "$N500" = 3 ] && [ "$(js b.length)" = 0 ]; then ok "probabilistic rule with count 3 applied 3 times, then removed (after $i requests)"; else bad "probabilistic rule with count 3" "$N500 hits, rules left: $BODY"; fi
scim GET "/Users?count=1"
expect_status 200 "no fault after the probabilistic rule is used up"
admin POST /faults '{"status":503,"probability":0.25}'
expect_js "[b[0].probability, Number.isInteger(b[0].seed), b[0].count]" "[0.25,true,null]" "no seed given: a random seed is listed"
admin DELETE /faults
for bodyjson in '{"status":503,"probability":0}' '{"status":503,"probability":1.5}' '{"status":503,"probability":"x"}' \
                '{"status":503,"probability":0.5,"seed":1.5}' '{"status":503,"probability":0.5,"seed":"abc"}' \
                '{"drop":"yes"}' '{"count":2}' '{"drop":false}' '{"drop":true,"status":42}'; do
    admin POST /faults "$bodyjson"
    expect_status 400 "POST /_admin/faults refused: $bodyjson"
done
admin GET /faults
expect_js "b.length" "0" "refused rules were not added"
admin POST /faults '{"status":503,"probability":1}'
expect_js "b[0].count === 1 && !('seed' in b[0]) && !('probability' in b[0])" "true" "probability 1 is the plain rule (count 1)"
admin DELETE /faults

# drop
admin GET /users
USERS_BEFORE="$(js b.length)"
admin POST /faults '{"drop":true,"match":"POST /Users"}'
expect_status 201 "POST /_admin/faults with drop (no status)"
expect_js "JSON.stringify(b)" '[{"match":"POST /Users","drop":true,"count":1}]' "drop rule listed"
treq POST "$BASE/Users" "{\"schemas\":[\"$CORE\"],\"userName\":\"dropped-1\"}"
if [ "$CURL_RC" = 52 ] || [ "$CURL_RC" = 56 ]; then ok "drop: curl gets a connection error (exit $CURL_RC)"; else bad "drop: curl gets a connection error" "curl exit $CURL_RC, HTTP $STATUS: ${BODY:0:200}"; fi
admin GET /users
expect_js "b.length" "$USERS_BEFORE" "drop: store not touched"
admin GET "/requests?limit=1"
expect_js "[b[0].method, b[0].path, b[0].body && b[0].body.userName, b[0].status]" '["POST","/Users","dropped-1",0]' "drop: request log has the body and status 0"
treq POST "$BASE/Users" "{\"schemas\":[\"$CORE\"],\"userName\":\"dropped-1\"}"
if [ "$CURL_RC" = 0 ] && [ "$STATUS" = 201 ]; then ok "drop rule used up: next POST /Users answered 201"; else bad "drop rule used up" "curl exit $CURL_RC, HTTP $STATUS"; fi
admin POST /faults '{"drop":true,"delayMs":400}'
treq GET "$BASE/Users?count=1"
if [ "$CURL_RC" = 52 ] || [ "$CURL_RC" = 56 ]; then ok "drop with delayMs: connection error (exit $CURL_RC)"; else bad "drop with delayMs: connection error" "curl exit $CURL_RC, HTTP $STATUS"; fi
expect_time "t >= 0.39" "drop with delayMs: dropped after the delay"
admin POST /faults '{"drop":true,"probability":0.5,"seed":42,"count":2,"match":"GET /Users"}'
DROPSEQ=""
for _ in $(seq 1 10); do treq GET "$BASE/Users?count=1"; DROPSEQ+="${DROPSEQ:+ }$CURL_RC"; done
EXPECTED_DROPSEQ="$(jseval "(() => { let n = 0; return s.split(' ').map(x => x === '503' && n < 2 ? (n++, 'X') : '0').join(' '); })()" "$(mulberry32 42 0.5 10)")"
if [ "$(sed -E 's/\b(52|56)\b/X/g' <<<"$DROPSEQ")" = "$EXPECTED_DROPSEQ" ]; then ok "probabilistic drop with count 2 follows the seed (curl exits: $DROPSEQ)"; else bad "probabilistic drop" "curl exits $DROPSEQ, expected (X = 52/56) $EXPECTED_DROPSEQ"; fi
admin DELETE /faults

# latency
admin GET /latency
expect_js "JSON.stringify(b)" '{"delayMs":0}' "GET /_admin/latency: off by default"
AUTH="Bearer $TOKEN" req PUT "$ORIGIN/_admin/latency" '{"delayMs":600}' application/json
expect_status 200 "PUT /_admin/latency"
expect_js "b.delayMs" "600" "PUT /_admin/latency answers the delay"
admin GET /latency
expect_js "b.delayMs" "600" "GET /_admin/latency reads it back"
treq GET "$BASE/Users?count=1"
expect_status 200 "latency: request still answered"
expect_time "t >= 0.59 && t < 10" "latency: SCIM request takes at least the delay"
AUTH="" treq GET "$BASE/Users?count=1"
expect_status 401 "latency: unauthenticated request gets 401"
expect_time "t >= 0.59" "latency: applies before auth (401 delayed too)"
treq GET "$ORIGIN/_admin/stats"
expect_time "t < 0.4" "latency: /_admin requests are not delayed"
admin POST /faults '{"status":503,"delayMs":400,"match":"GET /Users"}'
treq GET "$BASE/Users?count=1"
expect_status 503 "latency + fault: fault still applied"
FAULTED=$((FAULTED + 1))
expect_time "t >= 0.99" "latency + fault delayMs add up (600 + 400 ms)"
admin GET /stats
expect_js "b.delayed" "3" "/_admin/stats delayed counts delayed SCIM requests"
for bodyjson in '{"delayMs":-1}' '{"delayMs":600001}' '{}' '{"delayMs":"x"}' '[600]'; do
    req PUT "$ORIGIN/_admin/latency" "$bodyjson" application/json
    expect_status 400 "PUT /_admin/latency refused: $bodyjson"
done
admin GET /latency
expect_js "b.delayMs" "600" "refused PUTs left the latency unchanged"
req PUT "$ORIGIN/_admin/latency" '{"delayMs":0}' application/json
expect_js "b.delayMs" "0" "PUT /_admin/latency 0 turns it off"
treq GET "$BASE/Users?count=1"
expect_time "t < 0.4" "latency off: request fast again"

# token rotation
admin GET /token
expect_js "JSON.stringify(b)" '{"rotated":false}' "GET /_admin/token: not rotated"
NEWTOKEN="rotated-$RANDOM$RANDOM"
req PUT "$ORIGIN/_admin/token" "{\"token\":\"$NEWTOKEN\"}" application/json
expect_status 200 "PUT /_admin/token"
expect_js "JSON.stringify(b)" '{"rotated":true}' "PUT /_admin/token answers {rotated: true} only"
admin GET /token
expect_js "JSON.stringify(b)" '{"rotated":true}' "GET /_admin/token: rotated, token not revealed"
if grep -q -e "$NEWTOKEN" -e "$TOKEN" <<<"$BODY"; then bad "GET /_admin/token never contains a token"; else ok "GET /_admin/token never contains a token"; fi
scim GET "/Users?count=1"
expect_scim_error 401 "" "rotated: old token gets 401 on /scim/v2"
expect_header "WWW-Authenticate" "Bearer" "rotated: 401 carries WWW-Authenticate: Bearer"
AUTH="Bearer $NEWTOKEN" scim GET "/Users?count=1"
expect_status 200 "rotated: new token gets 200 on /scim/v2"
admin GET /stats
expect_status 200 "rotated: /_admin still takes the start-up token"
AUTH="Bearer $NEWTOKEN" admin GET /stats
expect_status 401 "rotated: /_admin refuses the rotated token"
for bodyjson in '{"token":""}' '{"token":"a b"}' '{"token":" x"}' '{"token":123}' '{}'; do
    req PUT "$ORIGIN/_admin/token" "$bodyjson" application/json
    expect_status 400 "PUT /_admin/token refused: $bodyjson"
done
AUTH="Bearer $NEWTOKEN" scim GET "/Users?count=1"
expect_status 200 "refused PUTs left the rotated token in place"
req PUT "$ORIGIN/_admin/token" "{\"token\":\"$TOKEN\"}" application/json
expect_js "b.rotated" "false" "PUT the start-up token: rotated false"
scim GET "/Users?count=1"
expect_status 200 "start-up token accepted again"
AUTH="Bearer $NEWTOKEN" scim GET "/Users?count=1"
expect_status 401 "previous rotated token now refused"
req PUT "$ORIGIN/_admin/token" "{\"token\":\"$NEWTOKEN\"}" application/json
admin DELETE /token
expect_status 204 "DELETE /_admin/token"
scim GET "/Users?count=1"
expect_status 200 "DELETE /_admin/token restores the start-up token"
admin GET /token
expect_js "b.rotated" "false" "after DELETE /_admin/token: rotated false"

# counters, then reset restores latency and token
admin GET /stats
expect_js "[b.faults.answered, b.faults.dropped, b.faults.applied === b.faults.answered + b.faults.dropped, b.faults.skipped > 0]" "[$FAULTED,4,true,true]" "/_admin/stats faults: answered, dropped, applied, skipped"
expect_js "b.byStatus['503'] + b.byStatus['429'] + b.byStatus['500'] === $FAULTED && b.byStatus['000'] === undefined" "true" "byStatus counts answered faults, not dropped connections"
req PUT "$ORIGIN/_admin/token" "{\"token\":\"$NEWTOKEN\"}" application/json
req PUT "$ORIGIN/_admin/latency" '{"delayMs":5000}' application/json
admin POST /faults '{"status":503,"probability":0.5}'
admin POST /reset
expect_status 204 "POST /_admin/reset"
admin GET /latency
expect_js "b.delayMs" "0" "reset turns latency off"
admin GET /token
expect_js "b.rotated" "false" "reset restores the start-up token"
admin GET /faults
expect_js "b.length" "0" "reset clears probabilistic rules"
admin GET /stats
expect_js "[b.delayed, b.faults.applied, b.faults.skipped]" "[0,0,0]" "reset clears delayed and faults counters"
treq GET "$BASE/Users?count=1"
if [ "$STATUS" = 200 ]; then ok "after reset: start-up token, no delay"; else bad "after reset" "HTTP $STATUS"; fi
expect_time "t < 0.4" "after reset: no latency"

# ---------------------------------------------------------------- shutdown

stop_server generic

# ================================================================ --behave-like modes

GROUP='urn:ietf:params:scim:schemas:core:2.0:Group'
user_body() {  # user_body USERNAME EMAILS_JSON
    printf '{"schemas":["%s"],"userName":"%s","emails":%s}' "$CORE" "$1" "$2"
}
gpatch() { scim PATCH "/Groups/$1" "{$PATCHOP,\"Operations\":$2}"; }

# ---------------------------------------------------------------- leapsome (mode from env)

echo "# ---- mode: leapsome (SCIM_TARGET_BEHAVE_LIKE)"
start_server leapsome
admin GET /behavior
expect_js "[b.mode, b.tenantUrl]" '["leapsome","https://www.leapsome.com/api/scim"]' "leapsome: GET /_admin/behavior"

scim POST /Users "$(user_body "Lea.Work@example.com" '[{"type":"work","value":"lea@example.com","primary":true}]')"
expect_status 201 "leapsome: POST user with a work email"
L1="$(js b.id)"
scim POST /Users "{\"schemas\":[\"$CORE\"],\"userName\":\"no-email@example.com\"}"
expect_status 201 "leapsome: POST user without emails"
scim POST /Users "$(user_body "home@example.com" '[{"type":"home","value":"h@example.com"}]')"
expect_scim_error 400 invalidValue "leapsome: POST with a home email"
expect_js "/only work email addresses are accepted/i.test(b.detail)" "true" "leapsome: detail says only work email addresses are accepted"
scim POST /Users "$(user_body "untyped@example.com" '[{"value":"u@example.com"}]')"
expect_scim_error 400 invalidValue "leapsome: POST with an email without type"
scim POST /Users "$(user_body "mixed@example.com" '[{"type":"work","value":"w@example.com"},{"type":"other","value":"o@example.com"}]')"
expect_scim_error 400 invalidValue "leapsome: POST with a work and an other email"
scim POST /Users "$(user_body "LEA.WORK@EXAMPLE.COM" '[{"type":"work","value":"x@example.com"}]')"
expect_scim_error 409 uniqueness "leapsome: duplicate userName (other case)"

scim PUT "/Users/$L1" "$(user_body "Lea.Work@example.com" '[{"type":"home","value":"lea@home.example"}]')"
expect_scim_error 400 invalidValue "leapsome: PUT with a home email"
scim PUT "/Users/$L1" "$(user_body "Lea.Work@example.com" '[{"type":"work","value":"lea2@example.com"}]')"
expect_status 200 "leapsome: PUT with a work email"
patch "$L1" '[{"op":"add","path":"emails","value":[{"type":"home","value":"lea@home.example"}]}]'
expect_scim_error 400 invalidValue "leapsome: PATCH add a home email"
patch "$L1" '[{"op":"replace","path":"emails","value":[{"type":"home","value":"lea@home.example"}]}]'
expect_scim_error 400 invalidValue "leapsome: PATCH replace emails with a home email"
patch "$L1" '[{"op":"replace","value":{"emails":[{"value":"lea@other.example"}]}}]'
expect_scim_error 400 invalidValue "leapsome: path-less PATCH with an untyped email"
scim GET "/Users/$L1"
expect_js "JSON.stringify(b.emails)" '[{"value":"lea2@example.com","type":"work"}]' "leapsome: refused writes left the emails unchanged"
patch "$L1" '[{"op":"replace","path":"emails[type eq \"work\"].value","value":"lea3@example.com"}]'
expect_js "JSON.stringify(b.emails)" '[{"value":"lea3@example.com","type":"work"}]' "leapsome: PATCH replace emails[type eq \"work\"].value"
patch "$L1" '[{"op":"replace","path":"displayName","value":"Lea"}]'
expect_js "[b.displayName, b.emails.length]" '["Lea",1]' "leapsome: other PATCHes work"

scim GET /ResourceTypes
expect_js "b.Resources.map(r => r.name).sort().join(',')" "Group,User" "leapsome: ResourceTypes lists User and Group"
scim POST /Groups "{\"schemas\":[\"$GROUP\"],\"displayName\":\"Leaders\"}"
expect_status 201 "leapsome: POST /Groups"
LG="$(js b.id)"
gpatch "$LG" "[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"$L1\"}]}]"
expect_js "b.members.map(m => m.value).join(',')" "$L1" "leapsome: PATCH group members"
scim DELETE "/Groups/$LG"
expect_status 204 "leapsome: DELETE /Groups/{id}"
stop_server leapsome

# ---------------------------------------------------------------- elium

echo "# ---- mode: elium (--behave-like elium)"
start_server "" --behave-like elium
admin GET /behavior
expect_js "b.mode" "elium" "elium: GET /_admin/behavior"

scim POST /Users "$(user_body "eli@example.com" '[{"type":"work","value":"eli@example.com"}]')"
expect_status 201 "elium: POST /Users"
E1="$(js b.id)"
scim GET "/Users?filter=$(enc 'userName eq "ELI@example.com"')"
expect_js "[b.totalResults, b.Resources[0] && b.Resources[0].id]" "[1,\"$E1\"]" "elium: filter Users by userName"
patch "$E1" '[{"op":"replace","path":"active","value":false}]'
expect_js "b.active" "false" "elium: PATCH /Users/{id}"
scim POST /.search '{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName pr"}'
expect_js "[b.totalResults, b.Resources.every(r => r.meta.resourceType === 'User')]" "[1,true]" "elium: POST /.search finds users only"

for mr in "GET /Groups" "POST /Groups" "GET /Groups/$E1" "PUT /Groups/$E1" "PATCH /Groups/$E1" "DELETE /Groups/$E1" "POST /Groups/.search"; do
    body=""
    case "${mr%% *}" in POST|PUT|PATCH) body="{\"schemas\":[\"$GROUP\"],\"displayName\":\"x\"}";; esac
    scim "${mr%% *}" "${mr#* }" "$body"
    expect_scim_error 404 "" "elium: $mr"
    expect_js "b.detail" "Groups are not supported" "elium: $mr detail"
done
scim GET /ResourceTypes
expect_js "b.Resources.map(r => r.name).join(',')" "User" "elium: ResourceTypes lists User only"
scim GET /Schemas
expect_js "b.Resources.some(s => s.id === '$GROUP') || !b.Resources.some(s => s.id === '$CORE')" "false" "elium: Schemas does not list Group"
scim GET "/Schemas/$GROUP"
expect_status 404 "elium: GET /Schemas/{Group schema} 404"
scim GET /ServiceProviderConfig
expect_status 200 "elium: ServiceProviderConfig"
admin POST /groups '{"displayName":"Seeded"}'
expect_status 201 "elium: POST /_admin/groups still works"
admin GET /stats
expect_js "[b.users, b.groups, b.byRoute['GET /Groups'], b.byStatus['404'] >= 8]" "[1,1,1,true]" "elium: /_admin/stats"
scim DELETE "/Users/$E1"
expect_status 204 "elium: DELETE /Users/{id}"
stop_server elium

# ---------------------------------------------------------------- genesys

echo "# ---- mode: genesys (--behave-like=genesys)"
start_server "" --behave-like=genesys
admin GET /behavior
expect_js "[b.mode, b.tenantUrl]" '["genesys","{API url}/api/v2/scim/v2"]' "genesys: GET /_admin/behavior"

scim POST /Users "{\"schemas\":[\"$CORE\",\"$ENT\"],\"userName\":\"boss@example.com\",\"active\":true,\"displayName\":\"Boss\"}"
expect_status 201 "genesys: POST manager user"
GM="$(js b.id)"
GEN_BODY="{\"schemas\":[\"$CORE\",\"$ENT\"],\"userName\":\"gen@example.com\",\"active\":true,\"displayName\":\"Gen\",\"title\":\"Agent\",
 \"emails\":[{\"type\":\"work\",\"value\":\"gen@example.com\",\"primary\":true}],
 \"phoneNumbers\":[{\"type\":\"mobile\",\"value\":\"+1 555 0100\"},{\"type\":\"work\",\"value\":\"+1 555 0101\"}],
 \"$ENT\":{\"department\":\"Support\",\"manager\":{\"value\":\"$GM\"}}}"
scim POST /Users "$GEN_BODY"
expect_status 201 "genesys: POST user with every attribute of the Genesys table"
expect_js "[b.title, b.phoneNumbers.length, b['$ENT'].department, b['$ENT'].manager.value]" "[\"Agent\",2,\"Support\",\"$GM\"]" "genesys: attributes stored"
GU="$(js b.id)"
scim POST /Users "{\"schemas\":[\"$CORE\",\"$ENT\"],\"userName\":\"orphan@example.com\",\"$ENT\":{\"manager\":{\"value\":\"no-such-user\"}}}"
expect_scim_error 400 invalidValue "genesys: POST manager that is not an existing user"

# filters: only userName
scim GET "/Users?filter=$(enc 'userName eq "GEN@example.com"')"
expect_js "[b.totalResults, b.Resources[0] && b.Resources[0].id]" "[1,\"$GU\"]" "genesys: filter userName eq"
scim GET "/Users?filter=$(enc "$CORE:userName eq \"GEN@example.com\"")"
expect_js "b.totalResults" "1" "genesys: filter on URN-qualified userName"
scim GET "/Users?filter=$(enc 'userName eq "gen@example.com" or userName sw "boss"')"
expect_js "b.totalResults" "2" "genesys: filter on userName only (or, sw)"
for f in 'externalId eq "x"' 'displayName eq "Gen"' 'emails[type eq "work"].value eq "gen@example.com"' \
         'userName eq "gen@example.com" and active eq true' "$ENT:department eq \"Support\"" 'not (title pr)'; do
    scim GET "/Users?filter=$(enc "$f")"
    expect_scim_error 400 invalidFilter "genesys: filter refused: $f"
done
expect_js "/userName/.test(b.detail) && /title/.test(b.detail)" "true" "genesys: invalidFilter detail names userName and the offending attribute"
scim POST /Users/.search "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:SearchRequest\"],\"filter\":\"externalId eq \\\"x\\\"\"}"
expect_scim_error 400 invalidFilter "genesys: POST /Users/.search filter on externalId refused"
scim POST /Users/.search "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:SearchRequest\"],\"filter\":\"userName eq \\\"boss@example.com\\\"\"}"
expect_js "[b.totalResults, b.Resources[0] && b.Resources[0].id]" "[1,\"$GM\"]" "genesys: POST /Users/.search filter on userName"
scim GET "/Users?count=10"
expect_js "b.totalResults" "2" "genesys: GET /Users without filter"

# PATCH the Genesys attribute table
patch "$GU" "[{\"op\":\"replace\",\"path\":\"emails[type eq \\\"work\\\"].value\",\"value\":\"gen2@example.com\"},
  {\"op\":\"replace\",\"path\":\"phoneNumbers[type eq \\\"mobile\\\"].value\",\"value\":\"+1 555 0200\"},
  {\"op\":\"replace\",\"path\":\"phoneNumbers[type eq \\\"work\\\"].value\",\"value\":\"+1 555 0201\"},
  {\"op\":\"replace\",\"path\":\"title\",\"value\":\"Lead\"},
  {\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"Gen Two\"},
  {\"op\":\"replace\",\"path\":\"active\",\"value\":false},
  {\"op\":\"replace\",\"path\":\"$ENT:department\",\"value\":\"Sales\"}]"
expect_js "[b.emails[0].value, b.phoneNumbers.find(p => p.type === 'mobile').value, b.phoneNumbers.find(p => p.type === 'work').value, b.title, b.displayName, b.active, b['$ENT'].department]" \
    '["gen2@example.com","+1 555 0200","+1 555 0201","Lead","Gen Two",false,"Sales"]' "genesys: PATCH every attribute of the table"
patch "$GU" "[{\"op\":\"replace\",\"path\":\"$ENT:manager\",\"value\":{\"value\":\"no-such-user\"}}]"
expect_scim_error 400 invalidValue "genesys: PATCH manager that is not an existing user"
patch "$GM" "[{\"op\":\"add\",\"path\":\"$ENT:manager\",\"value\":{\"value\":\"$GU\"}}]"
expect_js "b['$ENT'].manager.value" "$GU" "genesys: PATCH manager to an existing user"

# groups: no creation/deletion; seeded through /_admin/groups
scim POST /Groups "{\"schemas\":[\"$GROUP\"],\"displayName\":\"Support\"}"
expect_scim_error 405 "" "genesys: POST /Groups refused"
expect_header "Allow" "GET" "genesys: POST /Groups 405 carries Allow"
admin POST /groups '{"displayName":"Support Team","externalId":"ext-support"}'
expect_status 201 "genesys: POST /_admin/groups seeds a group"
expect_js "[b.displayName, b.externalId, b.meta.resourceType, typeof b.id]" '["Support Team","ext-support","Group","string"]' "genesys: seeded group as stored"
GG="$(js b.id)"
admin POST /groups '{"displayName":"SUPPORT TEAM"}'
expect_status 409 "genesys: POST /_admin/groups with a duplicate displayName"
admin POST /groups '{"externalId":"x"}'
expect_status 400 "genesys: POST /_admin/groups without displayName"
scim GET "/Groups?filter=$(enc 'displayName eq "support team"')&excludedAttributes=members"
expect_js "[b.totalResults, b.Resources[0] && b.Resources[0].id, b.Resources[0] && b.Resources[0].externalId]" "[1,\"$GG\",\"ext-support\"]" "genesys: GET /Groups?filter=displayName eq (excludedAttributes=members)"
gpatch "$GG" "[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"$GU\"},{\"value\":\"$GM\"}]}]"
expect_js "b.members.map(m => m.value).sort().join(',')" "$(printf '%s\n' "$GU" "$GM" | sort | paste -sd,)" "genesys: PATCH add group members"
gpatch "$GG" "[{\"op\":\"remove\",\"path\":\"members[value eq \\\"$GM\\\"]\"}]"
expect_js "b.members.map(m => m.value).join(',')" "$GU" "genesys: PATCH remove group member"
scim GET "/Groups?filter=$(enc 'displayName eq "Support Team"')&excludedAttributes=members"
expect_js "b.Resources[0].members === undefined" "true" "genesys: excludedAttributes=members leaves members out"
scim GET "/Groups/$GG?excludedAttributes=members"
expect_js "[b.id, b.members === undefined]" "[\"$GG\",true]" "genesys: GET /Groups/{id}?excludedAttributes=members"
scim DELETE "/Groups/$GG"
expect_scim_error 405 "" "genesys: DELETE /Groups/{id} refused"
scim GET "/Groups/$GG"
expect_js "[b.id, b.members.length]" "[\"$GG\",1]" "genesys: group still there after refused DELETE"
admin GET /stats
expect_js "[b.users, b.groups, b.byRoute['POST /Groups'], b.byRoute['DELETE /Groups/{id}'], b.byStatus['405']]" "[2,1,1,1,2]" "genesys: /_admin/stats"
scim DELETE "/Users/$GU"
expect_status 204 "genesys: DELETE /Users/{id}"
scim GET "/Groups/$GG"
expect_js "b.members === undefined" "true" "genesys: deleted user removed from the group"
stop_server genesys

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
