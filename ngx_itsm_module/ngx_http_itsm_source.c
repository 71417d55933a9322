
/*
 * Copyright (C) ngx_itsm_module authors
 */


#include "ngx_http_itsm.h"
#include "ngx_http_itsm_source.h"


/*
 * The alert sources: the dispatch that hands a payload to the location's
 * source (generic, Alertmanager and Grafana, Azure Monitor, Datadog:
 * ngx_http_itsm_source_*.c), and the checks of the sources' own settings
 * (itsm_max_alerts, itsm_state_map, itsm_severity_map: directives of the
 * main module, kept in its location configuration).  The dispatch hands
 * the location's settings to the source, which hands them to the helpers
 * of the normalized alert (ngx_http_itsm_alert.c): nothing below the
 * dispatch reads the module's configuration.
 */


typedef struct {
    ngx_str_t                       *name;
    ngx_http_itsm_source_parse_t    *parse;
    const char                      *object;    /* what the object is */
} ngx_http_itsm_source_t;


/*
 * The sources, by ngx_http_itsm_source_e (itsm_source NAME): a source is
 * added here, with its name in ngx_http_itsm_names.c.  Grafana's payload
 * is Alertmanager's, with a few more fields.  A source whose payload is
 * one JSON object says what it is: the dispatch refuses anything else
 * with its name, before the parser runs.  The generic source takes an
 * array of alerts too, and says itself what each must be.
 */

static ngx_http_itsm_source_t  ngx_http_itsm_sources[] = {
    { &ngx_http_itsm_source_names[NGX_HTTP_ITSM_SOURCE_GENERIC],
      ngx_http_itsm_generic_parse, NULL },
    { &ngx_http_itsm_source_names[NGX_HTTP_ITSM_SOURCE_ALERTMANAGER],
      ngx_http_itsm_alertmanager_parse, "an Alertmanager webhook message" },
    { &ngx_http_itsm_source_names[NGX_HTTP_ITSM_SOURCE_GRAFANA],
      ngx_http_itsm_alertmanager_parse, "a Grafana webhook message" },
    { &ngx_http_itsm_source_names[NGX_HTTP_ITSM_SOURCE_AZURE],
      ngx_http_itsm_azure_parse,
      "an Azure Monitor alert in the common alert schema" },
    { &ngx_http_itsm_source_names[NGX_HTTP_ITSM_SOURCE_DATADOG],
      ngx_http_itsm_datadog_parse, "a Datadog webhook payload" }
};


/*
 * The payload's alerts, by the location's source profile, appended to
 * "alerts" (ngx_http_itsm_alert_t *) in the payload's order.  NGX_ERROR
 * with "error" set when the payload is not what the profile expects; the
 * message names the field and its pointer, for the sender's 400 answer
 * (an empty "error": the server failed).
 */

ngx_int_t
ngx_http_itsm_source_parse(ngx_http_request_t *r,
    ngx_http_itsm_loc_conf_t *conf, json_t *payload, ngx_array_t *alerts,
    ngx_str_t *error)
{
    ngx_int_t                     rc;
    ngx_http_itsm_source_t       *source;
    ngx_http_itsm_source_conf_t  *scf;
#if (NGX_DEBUG)
    ngx_uint_t                    i;
    ngx_http_itsm_alert_t       **a;
#endif

    ngx_str_null(error);

    scf = &conf->source_conf;

    source = &ngx_http_itsm_sources[conf->source];

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "itsm source \"%V\": payload, itsm_max_alerts:%ui, "
                   "mapped words: %ui states, %ui severities",
                   source->name, scf->max_alerts,
                   scf->states ? scf->states->nelts : 0,
                   scf->severities ? scf->severities->nelts : 0);

    if (source->object && !json_is_object(payload)) {
        rc = ngx_http_itsm_alert_error(r, error, "the payload must be a JSON "
                                       "object: %s", source->object);

    } else {
        rc = source->parse(r, conf, scf, payload, alerts, error);
    }

    if (rc != NGX_OK) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm source \"%V\": the payload is refused: %V",
                       source->name, error);
        return rc;
    }

#if (NGX_DEBUG)

    a = alerts->elts;

    for (i = 0; i < alerts->nelts; i++) {
        ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "itsm source \"%V\": alert %ui key:\"%V\" "
                       "status:%V severity:\"%V\"", source->name, i,
                       &a[i]->fields[NGX_HTTP_ITSM_FIELD_KEY],
                       &a[i]->fields[NGX_HTTP_ITSM_FIELD_STATUS],
                       &a[i]->fields[NGX_HTTP_ITSM_FIELD_SEVERITY]);
    }

#endif

    return NGX_OK;
}


/*
 * itsm_state_map firing=open,new resolved=closed,done;
 * itsm_severity_map critical=5,disaster high=4 ...;
 *
 * NAME is one of the names in cmd->post; the words after it, compared
 * without case, are read as NAME before the built-in words.
 */

char *
ngx_http_itsm_source_map(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    u_char                      *eq, *s, *last, *comma;
    u_char                       list[128];
    ngx_str_t                   *value, *names, name;
    ngx_uint_t                   i, k, j, n;
    ngx_array_t                **map;
    ngx_http_itsm_alert_word_t  *w, *words;

    map = (ngx_array_t **) (p + cmd->offset);

    if (*map != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    *map = ngx_array_create(cf->pool, 4, sizeof(ngx_http_itsm_alert_word_t));
    if (*map == NULL) {
        return NGX_CONF_ERROR;
    }

    names = cmd->post;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

        name.data = value[i].data;
        name.len = eq ? (size_t) (eq - value[i].data) : 0;

        for (k = 0; names[k].len; k++) {
            if (names[k].len == name.len
                && ngx_strncasecmp(names[k].data, name.data, name.len) == 0)
            {
                break;
            }
        }

        if (eq == NULL || names[k].len == 0) {
            last = ngx_cpymem(list, names[0].data, names[0].len);

            for (k = 1; names[k].len; k++) {
                last = ngx_sprintf(last, ", %V", &names[k]);
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\" parameter \"%V\": expected "
                               "NAME=WORD[,WORD...] with NAME one of %*s",
                               &cmd->name, &value[i], last - list, list);
            return NGX_CONF_ERROR;
        }

        s = eq + 1;
        last = value[i].data + value[i].len;

        for ( ;; ) {
            comma = ngx_strlchr(s, last, ',');
            if (comma == NULL) {
                comma = last;
            }

            if (comma == s) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" parameter \"%V\": an "
                                   "empty word", &cmd->name, &value[i]);
                return NGX_CONF_ERROR;
            }

            words = (*map)->elts;
            n = (*map)->nelts;

            for (j = 0; j < n; j++) {
                if (words[j].word.len == (size_t) (comma - s)
                    && ngx_strncasecmp(words[j].word.data, s, comma - s) == 0)
                {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "\"%V\": the word \"%*s\" is mapped "
                                       "twice", &cmd->name, comma - s, s);
                    return NGX_CONF_ERROR;
                }
            }

            w = ngx_array_push(*map);
            if (w == NULL) {
                return NGX_CONF_ERROR;
            }

            w->word.data = s;
            w->word.len = comma - s;
            w->value = k;

            if (comma == last) {
                break;
            }

            s = comma + 1;
        }
    }

    return NGX_CONF_OK;
}
