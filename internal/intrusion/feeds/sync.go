package feeds

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/intrusion/secretref"
	"github.com/calicong/calico/internal/threatfeed"
)

// SetPrefix names a feed's GlobalNetworkSet: threatfeed.<feed>.
const SetPrefix = "threatfeed."

// Syncer pulls feeds and writes what they hold.
type Syncer struct {
	Client *datastore.Client
	// Namespace holds the Secrets and ConfigMaps headers refer to (the
	// controller's own).
	Namespace string
	HTTP      *http.Client
	// MaxBytes bounds a feed's content (DefaultMaxBytes if 0).
	MaxBytes int64
	Log      *slog.Logger
	// Metrics, if set, counts the pulls.
	Metrics *Metrics
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// State is what the Syncer keeps of a feed between pulls.
type State struct {
	etag, lastModified string
	// changed says the last pull's content was new (not 304).
	changed bool
	// Entries are the last good pull's, normalised and sorted.
	Entries []string
}

// Sync pulls a feed once and writes the result: its GlobalNetworkSet
// (an IPSet feed with globalNetworkSet) and its status. It returns the
// error the status now reports, if any; the previous set is then left
// as it was.
func (s *Syncer) Sync(ctx context.Context, feed *v3.GlobalThreatFeed, st *State) error {
	unchanged, err := s.pull(ctx, feed, st)
	switch {
	case err != nil:
		s.Metrics.pulled(feed.Name, "failed", 0)
	case unchanged:
		s.Metrics.pulled(feed.Name, "unchanged", len(st.Entries))
	default:
		s.Metrics.pulled(feed.Name, "synced", len(st.Entries))
	}
	now := s.now()
	if serr := s.WriteStatus(ctx, feed.Name, func(status *v3.GlobalThreatFeedStatus) {
		if err != nil {
			status.ErrorConditions = SetCondition(status.ErrorConditions, ConditionPullFailed, err.Error())
			return
		}
		t := metav1.NewTime(now)
		status.LastSuccessfulSync = &t
		status.ErrorConditions = SetCondition(status.ErrorConditions, ConditionPullFailed, "")
	}); serr != nil && err == nil {
		err = fmt.Errorf("writing the feed's status: %w", serr)
	}
	return err
}

func (s *Syncer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// pull fetches, parses and writes a feed; it tells whether the content
// was unchanged.
func (s *Syncer) pull(ctx context.Context, feed *v3.GlobalThreatFeed, st *State) (bool, error) {
	p := feed.Spec.Pull
	if p == nil || p.HTTP == nil {
		return false, fmt.Errorf("the feed has no pull.http")
	}
	headers, err := s.headers(ctx, p.HTTP.Headers)
	if err != nil {
		return false, err
	}
	maxBytes := s.MaxBytes
	if maxBytes == 0 {
		maxBytes = DefaultMaxBytes
	}
	client := s.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	f, err := fetch(ctx, client, p.HTTP.URL, headers, st.etag, st.lastModified, maxBytes)
	if err != nil {
		return false, err
	}
	entries := st.Entries
	if !f.notModified {
		content := feed.Spec.Content
		if content == "" {
			content = v3.ThreatFeedContentIPSet
		}
		if entries, err = threatfeed.Parse(content, p.HTTP.Format, f.body); err != nil {
			return false, fmt.Errorf("the content of %s: %w", p.HTTP.URL, err)
		}
	}
	if feed.Spec.GlobalNetworkSet != nil && feed.Spec.Content != v3.ThreatFeedContentDomainNameSet {
		if err := s.writeSet(ctx, feed, entries); err != nil {
			return false, fmt.Errorf("writing GlobalNetworkSet %s%s: %w", SetPrefix, feed.Name, err)
		}
	}
	st.etag, st.lastModified, st.Entries, st.changed = f.etag, f.lastModified, entries, !f.notModified
	s.Log.Info("threat feed synced", "feed", feed.Name, "entries", len(entries), "unchanged", f.notModified)
	return f.notModified, nil
}

// headers resolves the feed's headers, reading values from Secrets and
// ConfigMaps in the controller's namespace.
func (s *Syncer) headers(ctx context.Context, hs []v3.HTTPHeader) (map[string]string, error) {
	out := map[string]string{}
	for _, h := range hs {
		if h.ValueFrom == nil {
			out[h.Name] = h.Value
			continue
		}
		v, ok, err := secretref.Value(ctx, s.Client.Kube, s.Namespace, h.ValueFrom)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", h.Name, err)
		}
		if ok {
			out[h.Name] = v
		}
	}
	return out, nil
}

var gnsKind, _ = v3.KindFor("GlobalNetworkSet")
var feedKind, _ = v3.KindFor("GlobalThreatFeed")

// MaxSetEntries is how many entries one GlobalNetworkSet holds: a larger
// feed is kept in several (threatfeed.<name>, threatfeed.<name>-2, ...),
// with the same labels, so that no object passes etcd's request limit
// (1.5 MiB by default; 50,000 networks are about 1 MiB).
const MaxSetEntries = 50_000

// setNames are the GlobalNetworkSets of a feed with n entries.
func setNames(feed string, n int) []string {
	out := []string{SetPrefix + feed}
	for i := 2; (i-1)*MaxSetEntries < n; i++ {
		out = append(out, fmt.Sprintf("%s%s-%d", SetPrefix, feed, i))
	}
	return out
}

// writeSet makes the feed's GlobalNetworkSets hold entries, with the
// feed's labels, each in one write and owned by the feed (deleted with
// it); sets the feed no longer fills are deleted after the others are
// written.
func (s *Syncer) writeSet(ctx context.Context, feed *v3.GlobalThreatFeed, entries []string) error {
	names := setNames(feed.Name, len(entries))
	for i, name := range names {
		chunk := entries[i*MaxSetEntries : min(len(entries), (i+1)*MaxSetEntries)]
		if err := s.writeOneSet(ctx, feed, name, chunk); err != nil {
			return err
		}
	}
	// Shards of a larger earlier content.
	for i := len(names) + 1; ; i++ {
		err := s.Client.Delete(ctx, gnsKind, "", fmt.Sprintf("%s%s-%d", SetPrefix, feed.Name, i), nil)
		if datastore.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (s *Syncer) writeOneSet(ctx context.Context, feed *v3.GlobalThreatFeed, name string, entries []string) error {
	labels := maps.Clone(feed.Spec.GlobalNetworkSet.Labels)
	owner := []metav1.OwnerReference{{APIVersion: v3.GroupVersionString, Kind: "GlobalThreatFeed", Name: feed.Name, UID: feed.UID}}
	obj, err := s.Client.Get(ctx, gnsKind, "", name)
	if datastore.IsNotFound(err) {
		gns := &v3.GlobalNetworkSet{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: owner},
			Spec: v3.GlobalNetworkSetSpec{Nets: entries}}
		_, err = s.Client.Create(ctx, gns)
		return err
	}
	if err != nil {
		return err
	}
	gns := obj.(*v3.GlobalNetworkSet)
	if slices.Equal(gns.Spec.Nets, entries) && maps.Equal(gns.Labels, labels) {
		return nil
	}
	gns.Spec.Nets, gns.Labels, gns.OwnerReferences = entries, labels, owner
	_, err = s.Client.Update(ctx, gns)
	return err
}

// writeStatus changes the feed's status, re-reading it on a conflict.
// The error conditions of a feed's status: its pull's (the Syncer's) and
// its search's, each kept by its own writer.
const (
	ConditionPullFailed   = "PullFailed"
	ConditionSearchFailed = "SearchFailed"
)

// SetCondition sets the condition of a type to msg, or removes it when
// msg is empty, leaving the others as they are.
func SetCondition(conds []v3.ErrorCondition, typ, msg string) []v3.ErrorCondition {
	out := make([]v3.ErrorCondition, 0, len(conds)+1)
	for _, c := range conds {
		if c.Type != typ {
			out = append(out, c)
		}
	}
	if msg != "" {
		out = append(out, v3.ErrorCondition{Type: typ, Message: msg})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// WriteStatus changes a feed's status.
func (s *Syncer) WriteStatus(ctx context.Context, name string, change func(*v3.GlobalThreatFeedStatus)) error {
	return s.Client.ChangeStatus(ctx, feedKind, "", name, func(o v3.Object) { change(&o.(*v3.GlobalThreatFeed).Status) })
}
