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
    rm -rf "$WORK"
}
trap cleanup EXIT

PASS=0
FAIL=0
ok()  { PASS=$((PASS + 1)); echo "ok   - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; if [ -n "${2-}" ]; then echo "       $2"; fi; }

# ---------------------------------------------------------------- helpers

# js EXPR [JSON]: evaluate a JS expression over b = parsed JSON (default: last body)
js() {
    local input
    if [ $# -ge 2 ]; then input="$2"; else input="$BODY"; fi
    node -e '
        const src = require("fs").readFileSync(0, "utf8");
        let b = null; try { b = src.trim() ? JSON.parse(src) : null; } catch { b = undefined; }
        let r; try { r = new Function("b", "return (" + process.argv[1] + ");")(b); } catch (e) { r = "<error: " + e.message + ">"; }
        process.stdout.write(typeof r === "string" ? r : String(JSON.stringify(r)));
    ' "$1" <<<"$input"
}

# enc STRING: percent-encode for a query value
enc() { node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$1"; }

# json EXPR: build a JSON document with node (for bodies containing awkward strings)
json() { node -e 'process.stdout.write(JSON.stringify(new Function("return (" + process.argv[1] + ");")()))' "$1"; }

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

SCIM_TARGET_TOKEN="$TOKEN" node server.js --port 0 --host 127.0.0.1 >"$WORK/stdout" 2>"$WORK/stderr" &
PID=$!
LINE=""
for _ in $(seq 1 100); do
    LINE="$(head -n1 "$WORK/stdout" 2>/dev/null || true)"
    [ -n "$LINE" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
if [[ "$LINE" =~ ^SCIM\ target\ listening\ on\ http://127\.0\.0\.1:([0-9]+)/scim/v2$ ]]; then
    PORT="${BASH_REMATCH[1]}"
    ok "ready line: $LINE"
else
    bad "ready line" "got '$LINE'; stderr: $(cat "$WORK/stderr")"
    echo "$PASS passed, $FAIL failed"
    exit 1
fi
ORIGIN="http://127.0.0.1:$PORT"
BASE="$ORIGIN/scim/v2"

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

# ---------------------------------------------------------------- shutdown

kill -TERM "$PID"
EXITED=""
for _ in $(seq 1 30); do
    if ! kill -0 "$PID" 2>/dev/null; then EXITED=1; break; fi
    sleep 0.1
done
if [ -n "$EXITED" ]; then
    wait "$PID"; RC=$?
    if [ "$RC" = 0 ]; then ok "SIGTERM: clean exit"; else bad "SIGTERM: clean exit" "exit code $RC"; fi
else
    bad "SIGTERM: clean exit" "still running after 3s"
fi
PID=""
if [ "$(wc -l <"$WORK/stdout")" = 1 ]; then ok "nothing but the ready line on stdout"; else bad "stdout quiet" "$(cat "$WORK/stdout")"; fi
if [ -s "$WORK/stderr" ]; then echo "# server stderr:"; sed 's/^/#   /' "$WORK/stderr"; fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
