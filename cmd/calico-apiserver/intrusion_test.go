package main

import (
	"strings"
	"testing"
)

// TestIntrusionDetectionKinds: the intrusion-detection CRDs are
// installed and checked at admission as calicoctl checks them: a
// GlobalAlert whose query does not parse is refused by kubectl and by
// calicoctl with the column, and nothing is stored; a good one and a
// threat feed are stored with their defaults, the same either way.
func TestIntrusionDetectionKinds(t *testing.T) {
	run := toolRunner(t)
	alert := func(name, query string) string {
		return "apiVersion: projectcalico.org/v3\nkind: GlobalAlert\nmetadata: {name: " + name + "}\nspec:\n" +
			"  description: 'denied flows from ${source_namespace}'\n  severity: 60\n  dataSet: flows\n" +
			"  query: '" + query + "'\n  aggregateBy: [source_namespace]\n  metric: count\n  condition: gt\n  threshold: 10\n"
	}
	for _, tool := range []string{"kubectl", "calicoctl"} {
		out, err := run(tool, alert("broken-"+tool, "action = deny AND ("), "apply", "-f", "-")
		if err == nil || !strings.Contains(out, "spec.query") || !strings.Contains(out, "column 20") {
			t.Errorf("%s, a query that does not parse: %v\n%s", tool, err, out)
		}
		if out, err := run("kubectl", "", "get", "globalalerts.projectcalico.org", "broken-"+tool); err == nil || !strings.Contains(out, "NotFound") {
			t.Errorf("%s stored the broken alert: %v\n%s", tool, err, out)
		}
		if out, err := run(tool, alert("denied-"+tool, "action = deny"), "apply", "-f", "-"); err != nil {
			t.Errorf("%s, a good alert: %v\n%s", tool, err, out)
		}
		feed := "apiVersion: projectcalico.org/v3\nkind: GlobalThreatFeed\nmetadata: {name: feed-" + tool + "}\nspec:\n" +
			"  pull: {http: {url: 'http://feeds.example.test/ips.txt'}}\n  globalNetworkSet: {labels: {feed: bad}}\n"
		if out, err := run(tool, feed, "apply", "-f", "-"); err != nil {
			t.Errorf("%s, a feed: %v\n%s", tool, err, out)
		}
	}
	for _, o := range []struct{ kind, field, want string }{
		{"globalalerts.projectcalico.org/denied-", ".spec.type", "RuleBased"},
		{"globalthreatfeeds.projectcalico.org/feed-", ".spec.content", "IPSet"},
		{"globalthreatfeeds.projectcalico.org/feed-", ".spec.mode", "Enabled"},
	} {
		for _, tool := range []string{"kubectl", "calicoctl"} {
			out, err := run("kubectl", "", "get", o.kind+tool, "-o", "jsonpath={"+o.field+"}")
			if err != nil || out != o.want {
				t.Errorf("%s%s %s = %q (%v), want %q", o.kind, tool, o.field, out, err, o.want)
			}
		}
	}
}
