#pragma once

#include <memory>

#include <curl/curl.h>

namespace provbridge::consumers {

// The RAII wrappers of libcurl's handles, shared by every libcurl user here (the SCIM client,
// the notifier).
struct CurlEasyDeleter {
    void operator()(CURL* handle) const {
        if (handle != nullptr) curl_easy_cleanup(handle);
    }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;

struct CurlSlistDeleter {
    void operator()(curl_slist* list) const {
        if (list != nullptr) curl_slist_free_all(list);
    }
};
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;

struct CurlStringDeleter {
    void operator()(char* text) const {
        if (text != nullptr) curl_free(text);
    }
};
using CurlStringPtr = std::unique_ptr<char, CurlStringDeleter>;

// curl_global_init is not safe to race with other libcurl calls, and must run once before the
// first easy handle; a function-local static gives both. There is deliberately no
// curl_global_cleanup: handles may live until exit, in any thread.
inline bool ensure_curl_global() {
    static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
    return code == CURLE_OK;
}

}  // namespace provbridge::consumers
