#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http_client.h"
#include "redact.h"

struct tecg_registry {
        char *url;
        char *token;
        tecg_http_client_t *client; /* for GETs; POSTs need their own URL */
};

static const char *const json_headers[] = {
        "Content-Type: application/vnd.schemaregistry.v1+json",
        "Accept: application/vnd.schemaregistry.v1+json, application/json", NULL};

tecg_registry_t *tecg_registry_new(const char *url, const char *bearer_token, char *errstr,
                                   size_t errstr_size) {
        tecg_registry_t *reg = calloc(1, sizeof(*reg));
        if (!reg || !(reg->url = strdup(url)) ||
            (bearer_token && !(reg->token = strdup(bearer_token)))) {
                tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                tecg_registry_destroy(reg);
                return NULL;
        }
        size_t n = strlen(reg->url);
        while (n > 0 && reg->url[n - 1] == '/')
                reg->url[--n] = '\0';
        tecg_http_options_t opts = {.url = reg->url, .bearer_token = reg->token};
        if (!(reg->client = tecg_http_client_new(&opts, errstr, errstr_size))) {
                tecg_registry_destroy(reg);
                return NULL;
        }
        return reg;
}

void tecg_registry_destroy(tecg_registry_t *reg) {
        if (!reg)
                return;
        tecg_http_client_destroy(reg->client);
        free(reg->url);
        free(reg->token);
        free(reg);
}

/* The registry's JSON answer, or NULL with a reason. */
static json_t *answer(const tecg_http_response_t *resp, const char *what, char *errstr,
                      size_t errstr_size) {
        if (resp->status < 200 || resp->status > 299) {
                tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                            "schema registry: %s: HTTP %ld: %.200s", what, resp->status,
                            resp->body.data ? (const char *)resp->body.data : "");
                return NULL;
        }
        json_error_t jerr;
        json_t *doc = json_loadb((const char *)resp->body.data, resp->body.len, 0, &jerr);
        if (!doc)
                tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                            "schema registry: %s: answer is not JSON: %s", what, jerr.text);
        return doc;
}

int tecg_registry_subject(char *out, size_t outsz, const char *topic, const char *record_fullname) {
        int n = record_fullname ? snprintf(out, outsz, "%s-%s", topic, record_fullname)
                                : snprintf(out, outsz, "%s-value", topic);
        if (n < 0 || (size_t)n >= outsz) {
                if (outsz)
                        out[0] = '\0';
                return -1;
        }
        return 0;
}

/* POSTs {"schema": schema_json} to url (a path under the registry's URL);
 * the answer, whatever its status, is left in *resp. Registering and the
 * compatibility check ask the same way. */
static tecg_err_t post_schema(tecg_registry_t *reg, const char *url, const char *schema_json,
                              tecg_http_response_t *resp, char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        tecg_http_client_t *client = NULL;
        char *body = NULL, shown[1024];
        json_t *req = json_pack("{ss}", "schema", schema_json);
        if (!req || !(body = json_dumps(req, JSON_COMPACT))) {
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        tecg_http_options_t opts = {.url = url, .bearer_token = reg->token};
        if (!(client = tecg_http_client_new(&opts, errstr, errstr_size))) {
                err = TECG_ERR_CONFIG;
                goto done;
        }
        if ((err = tecg_http_post(client, json_headers, body, strlen(body), resp)))
                tecg_seterr(err, errstr, errstr_size, "schema registry %s: %s",
                            tecg_redact(NULL, url, shown, sizeof(shown)), resp->errstr);
done:
        json_decref(req);
        tecg_http_client_destroy(client);
        free(body);
        return err;
}

tecg_err_t tecg_registry_register(tecg_registry_t *reg, const char *subject,
                                  const char *schema_json, uint32_t *id, char *errstr,
                                  size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        tecg_http_response_t resp = TECG_HTTP_RESPONSE_INIT;
        json_t *doc = NULL;
        char *url = NULL;
        if (asprintf(&url, "%s/subjects/%s/versions", reg->url, subject) < 0) {
                url = NULL;
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        if ((err = post_schema(reg, url, schema_json, &resp, errstr, errstr_size)))
                goto done;
        if (!(doc = answer(&resp, subject, errstr, errstr_size))) {
                err = TECG_ERR_IO;
                goto done;
        }
        json_int_t v = json_integer_value(json_object_get(doc, "id"));
        if (v <= 0 || v > UINT32_MAX) {
                err = tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                  "schema registry: %s: no valid \"id\" in the answer", subject);
                goto done;
        }
        *id = (uint32_t)v;
done:
        json_decref(doc);
        tecg_http_response_free(&resp);
        free(url);
        return err;
}

tecg_err_t tecg_registry_teach(tecg_registry_t *reg, tecg_avro_t *avro, uint32_t id, char *errstr,
                               size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        tecg_http_response_t resp = TECG_HTTP_RESPONSE_INIT;
        json_t *doc = NULL;
        char url[1024], name[32], what[32], shown[1024];
        snprintf(url, sizeof(url), "%s/schemas/ids/%u", reg->url, id);
        snprintf(what, sizeof(what), "schema id %u", id);
        if ((err = tecg_http_get(reg->client, url, json_headers, &resp))) {
                tecg_seterr(err, errstr, errstr_size, "schema registry %s: %s",
                            tecg_redact(NULL, url, shown, sizeof(shown)), resp.errstr);
                goto done;
        }
        if (!(doc = answer(&resp, what, errstr, errstr_size))) {
                /* 4xx: the registry does not know the id (for good); 5xx or
                 * garbage: it may recover. */
                err = resp.status >= 400 && resp.status < 500 ? TECG_ERR_NOT_FOUND : TECG_ERR_IO;
                goto done;
        }
        const char *schema = json_string_value(json_object_get(doc, "schema"));
        if (!schema) {
                err = tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                  "schema registry: %s: no \"schema\" in the answer", what);
                goto done;
        }
        const tecg_avro_schema_t *known = NULL;
        snprintf(name, sizeof(name), "registry-%u", id);
        if ((err = tecg_avro_add_schema(avro, name, schema, strlen(schema), &known, errstr,
                                        errstr_size)))
                goto done;
        err = tecg_avro_register_id(avro, id, tecg_avro_schema_name(known), errstr, errstr_size);
done:
        json_decref(doc);
        tecg_http_response_free(&resp);
        return err;
}

tecg_err_t tecg_registry_compatible(tecg_registry_t *reg, const char *subject,
                                    const char *schema_json, bool *compatible, char *why,
                                    size_t why_size, char *errstr, size_t errstr_size) {
        tecg_err_t err = TECG_OK;
        tecg_http_response_t resp = TECG_HTTP_RESPONSE_INIT;
        json_t *doc = NULL;
        char *url = NULL;
        if (why_size)
                why[0] = '\0';
        if (asprintf(&url, "%s/compatibility/subjects/%s/versions/latest?verbose=true", reg->url,
                     subject) < 0) {
                url = NULL;
                err = tecg_seterr(TECG_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto done;
        }
        if ((err = post_schema(reg, url, schema_json, &resp, errstr, errstr_size)))
                goto done;
        if (resp.status == 404) {
                json_t *e = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
                json_int_t code = json_integer_value(json_object_get(e, "error_code"));
                json_decref(e);
                if (code == 40401) {
                        *compatible = true;
                        snprintf(why, why_size, "no version registered yet");
                        goto done;
                }
        }
        if (!(doc = answer(&resp, subject, errstr, errstr_size))) {
                err = TECG_ERR_IO;
                goto done;
        }
        json_t *verdict = json_object_get(doc, "is_compatible");
        if (!json_is_boolean(verdict)) {
                err = tecg_seterr(TECG_ERR_IO, errstr, errstr_size,
                                  "schema registry: %s: no \"is_compatible\" in the answer",
                                  subject);
                goto done;
        }
        *compatible = json_is_true(verdict);
        size_t i, used = 0;
        json_t *msg;
        json_array_foreach(json_object_get(doc, "messages"), i, msg) {
                const char *text = json_string_value(msg);
                if (!text || used >= why_size)
                        continue;
                int n = snprintf(why + used, why_size - used, "%s%s", used ? "; " : "", text);
                if (n > 0)
                        used += (size_t)n;
        }
done:
        json_decref(doc);
        tecg_http_response_free(&resp);
        free(url);
        return err;
}
