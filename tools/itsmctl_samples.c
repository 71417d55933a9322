
/*
 * Copyright (C) ngx_itsm_module authors
 */


/*
 * The sample alerts of "itsmctl send", one per source: the payloads of
 * t/payloads/ (the senders' own examples) in compact form, and a generic
 * one.  Each is an alert the module's source accepts as it is.
 */


#include "itsmctl.h"

#include <string.h>


typedef struct {
    const char  *source;
    const char  *body;
} itsmctl_sample_t;


static const itsmctl_sample_t  itsmctl_samples[] = {
    { "alertmanager",
      "{\"receiver\":\"itsm\",\"status\":\"firing\",\"alerts\":[{\"status\":\""
      "firing\",\"labels\":{\"alertname\":\"HostDiskFull\",\"instance\":\"d"
      "b-1:9100\",\"job\":\"node\",\"mountpoint\":\"/var\",\"severity\":\"cri"
      "tical\"},\"annotations\":{\"description\":\"Less than 3% of /var"
      " is left on db-1:9100.\",\"runbook_url\":\"https://runbooks.ex"
      "ample/disk\",\"summary\":\"Disk /var on db-1 is 97% full\"},\"st"
      "artsAt\":\"2026-11-22T06:27:21.065113061Z\",\"endsAt\":\"0001-01"
      "-01T00:00:00Z\",\"generatorURL\":\"http://prometheus.example:9"
      "090/graph?g0.expr=node_filesystem_avail_bytes+%3C+0.03&g0."
      "tab=1\",\"fingerprint\":\"e89f0b4e228ce84f\"},{\"status\":\"firing"
      "\",\"labels\":{\"alertname\":\"HostDiskFull\",\"instance\":\"db-2:91"
      "00\",\"job\":\"node\",\"mountpoint\":\"/var\",\"severity\":\"critical\""
      "},\"annotations\":{\"description\":\"Less than 2% of /var is le"
      "ft on db-2:9100.\",\"summary\":\"Disk /var on db-2 is 98% full"
      "\"},\"startsAt\":\"2026-11-22T06:27:21.065113061Z\",\"endsAt\":\"0"
      "001-01-01T00:00:00Z\",\"generatorURL\":\"http://prometheus.exa"
      "mple:9090/graph?g0.expr=node_filesystem_avail_bytes+%3C+0."
      "03&g0.tab=1\",\"fingerprint\":\"a95c4c431a852cd0\"},{\"status\":\""
      "firing\",\"labels\":{\"alertname\":\"HostDiskFull\",\"instance\":\"w"
      "eb-1:9100\",\"job\":\"node\",\"mountpoint\":\"/\",\"severity\":\"warni"
      "ng\"},\"annotations\":{\"summary\":\"Disk / on web-1 is 91% full"
      "\"},\"startsAt\":\"2026-11-22T06:27:21.065113061Z\",\"endsAt\":\"0"
      "001-01-01T00:00:00Z\",\"generatorURL\":\"http://prometheus.exa"
      "mple:9090/graph?g0.expr=node_filesystem_avail_bytes+%3C+0."
      "1&g0.tab=1\",\"fingerprint\":\"67852b92253594b5\"}],\"groupLabel"
      "s\":{\"alertname\":\"HostDiskFull\"},\"commonLabels\":{\"alertname"
      "\":\"HostDiskFull\",\"job\":\"node\"},\"commonAnnotations\":{},\"ext"
      "ernalURL\":\"http://alertmanager.example:9093\",\"version\":\"4\""
      ",\"groupKey\":\"{}:{alertname=\\\"HostDiskFull\\\"}\",\"truncatedAl"
      "erts\":0}" },

    { "azure",
      "{\"schemaId\":\"azureMonitorCommonAlertSchema\",\"data\":{\"essen"
      "tials\":{\"alertId\":\"/subscriptions/11111111-1111-1111-1111-"
      "111111111111/providers/Microsoft.AlertsManagement/alerts/1"
      "2345678-1234-1234-1234-1234567890ab\",\"alertRule\":\"test-met"
      "ricAlertRule\",\"severity\":\"Sev3\",\"signalType\":\"Metric\",\"mon"
      "itorCondition\":\"Fired\",\"monitoringService\":\"Platform\",\"ale"
      "rtTargetIDs\":[\"/subscriptions/11111111-1111-1111-1111-1111"
      "11111111/resourcegroups/test-RG/providers/Microsoft.Storag"
      "e/storageAccounts/test-storageAccount\"],\"configurationItem"
      "s\":[\"test-storageAccount\"],\"originAlertId\":\"11111111-1111-"
      "1111-1111-111111111111_test-RG_microsoft.insights_metricAl"
      "erts_test-metricAlertRule_1234567890\",\"firedDateTime\":\"202"
      "1-11-15T09:35:24.3468506Z\",\"description\":\"Alert rule descr"
      "iption\",\"essentialsVersion\":\"1.0\",\"alertContextVersion\":\"1"
      ".0\"},\"alertContext\":{\"properties\":{\"customKey1\":\"value1\",\""
      "customKey2\":\"value2\"},\"conditionType\":\"DynamicThresholdCri"
      "teria\",\"condition\":{\"windowSize\":\"PT15M\",\"allOf\":[{\"alertS"
      "ensitivity\":\"Low\",\"failingPeriods\":{\"numberOfEvaluationPer"
      "iods\":3,\"minFailingPeriodsToAlert\":3},\"ignoreDataBefore\":n"
      "ull,\"metricName\":\"Transactions\",\"metricNamespace\":\"Microso"
      "ft.Storage/storageAccounts\",\"operator\":\"GreaterThan\",\"thre"
      "shold\":\"0.3\",\"timeAggregation\":\"Average\",\"dimensions\":[],\""
      "metricValue\":78.09,\"webTestName\":null}],\"windowStartTime\":"
      "\"2021-12-15T01:04:11.719Z\",\"windowEndTime\":\"2021-12-15T01:"
      "19:11.719Z\"}},\"customProperties\":{\"customKey1\":\"value1\",\"c"
      "ustomKey2\":\"value2\"}}}" },

    { "grafana",
      "{\"receiver\":\"My Super Webhook\",\"status\":\"firing\",\"orgId\":1"
      ",\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"High "
      "memory usage\",\"team\":\"blue\",\"zone\":\"us-1\"},\"annotations\":{"
      "\"description\":\"The system has high memory usage\",\"runbook_"
      "url\":\"https://myrunbook.com/runbook/1234\",\"summary\":\"This "
      "alert was triggered for zone us-1\"},\"startsAt\":\"2021-10-12"
      "T09:51:03.157076+02:00\",\"endsAt\":\"0001-01-01T00:00:00Z\",\"g"
      "eneratorURL\":\"https://play.grafana.org/alerting/1afz29v7z/"
      "edit\",\"fingerprint\":\"c6eadffa33fcdf37\",\"silenceURL\":\"https"
      "://play.grafana.org/alerting/silence/new?alertmanager=graf"
      "ana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1\",\""
      "dashboardURL\":\"\",\"panelURL\":\"\",\"values\":{\"B\":44.2394373754"
      "1908,\"C\":1}},{\"status\":\"firing\",\"labels\":{\"alertname\":\"Hig"
      "h CPU usage\",\"team\":\"blue\",\"zone\":\"eu-1\"},\"annotations\":{\""
      "description\":\"The system has high CPU usage\",\"runbook_url\""
      ":\"https://myrunbook.com/runbook/1234\",\"summary\":\"This aler"
      "t was triggered for zone eu-1\"},\"startsAt\":\"2021-10-12T09:"
      "56:03.157076+02:00\",\"endsAt\":\"0001-01-01T00:00:00Z\",\"gener"
      "atorURL\":\"https://play.grafana.org/alerting/d1rdpdv7k/edit"
      "\",\"fingerprint\":\"bc97ff14869b13e3\",\"silenceURL\":\"https://p"
      "lay.grafana.org/alerting/silence/new?alertmanager=grafana&"
      "matchers=alertname%3DT1%2Cteam%3Dblue%2Czone%3Deu-1\",\"dash"
      "boardURL\":\"\",\"panelURL\":\"\",\"values\":{\"B\":44.23943737541908"
      ",\"C\":1}}],\"groupLabels\":{},\"commonLabels\":{\"team\":\"blue\"},"
      "\"commonAnnotations\":{},\"externalURL\":\"https://play.grafana"
      ".org/\",\"version\":\"1\",\"groupKey\":\"{}:{}\",\"truncatedAlerts\":"
      "0,\"title\":\"[FIRING:2]  (blue)\",\"state\":\"alerting\",\"message"
      "\":\"**Firing**\\n\\nLabels:\\n - alertname = T2\\n - team = blu"
      "e\\n - zone = us-1\\nAnnotations:\\n - description = This is "
      "the alert rule checking the second system\\n - runbook_url "
      "= https://myrunbook.com\\n - summary = This is my summary\\n"
      "Source: https://play.grafana.org/alerting/1afz29v7z/edit\\n"
      "Silence: https://play.grafana.org/alerting/silence/new?ale"
      "rtmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2C"
      "zone%3Dus-1\\n\\nLabels:\\n - alertname = T1\\n - team = blue\\"
      "n - zone = eu-1\\nAnnotations:\\nSource: https://play.grafan"
      "a.org/alerting/d1rdpdv7k/edit\\nSilence: https://play.grafa"
      "na.org/alerting/silence/new?alertmanager=grafana&matchers="
      "alertname%3DT1%2Cteam%3Dblue%2Czone%3Deu-1\\n\"}" },

    { "datadog",
      "{\"body\":\"@webhook-url Sending to the webhook\",\"last_update"
      "d\":\"1406662672000\",\"event_type\":\"metric_alert_monitor\",\"ti"
      "tle\":\"[Triggered] [Memory Alert]\",\"date\":\"1406662672000\",\""
      "org\":{\"id\":\"11023\",\"name\":\"Datadog\"},\"id\":\"1234567\",\"alert"
      "_id\":\"1234\",\"alert_metric\":\"system.load.1\",\"alert_priority"
      "\":\"P1\",\"alert_transition\":\"Triggered\",\"alert_status\":\"syst"
      "em.load.1 over host:my-host was > 0 at least once during t"
      "he last 1m\",\"alert_title\":\"[Triggered on {host:ip-012345}]"
      " Host is Down\",\"alert_type\":\"error\",\"host_name\":\"my-host\","
      "\"priority\":\"normal\",\"tags\":\"monitor, name:myService, role:"
      "computing-node\",\"alert_scope\":\"availability-zone:us-east-1"
      "a, role:computing-node\"}" },

    { "generic",
      "{\"key\":\"itsmctl-test\",\"status\":\"firing\",\"severity\":\"warnin"
      "g\",\"title\":\"itsmctl test alert\",\"description\":\"A test aler"
      "t sent by itsmctl send\",\"resource\":\"itsmctl\"}" },

    { NULL, NULL }
};


/* the sample of "source", or NULL */

const char *
itsmctl_sample(const char *source)
{
    const itsmctl_sample_t  *s;

    for (s = itsmctl_samples; s->source; s++) {
        if (strcmp(s->source, source) == 0) {
            return s->body;
        }
    }

    return NULL;
}
