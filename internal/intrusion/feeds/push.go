package feeds

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/linseed/api"
	"github.com/calicong/calico/internal/threatfeed"
)

// Linseed reads pushed feeds (client.Client has it).
type Linseed interface {
	Post(ctx context.Context, path string, body, out any) error
}

// DefaultPushPoll is how often a pushed feed is read from Linseed.
const DefaultPushPoll = time.Minute

// pushedPath is where a feed of a content is pushed.
func pushedPath(content string) string {
	if content == v3.ThreatFeedContentDomainNameSet {
		return "/threatfeeds/domainnameset"
	}
	return "/threatfeeds/ipset"
}

// pushed is a pushed feed's document.
type pushed struct {
	ID   string `json:"id"`
	Data struct {
		CreatedAt string   `json:"created_at"`
		IPs       []string `json:"ips"`
		Domains   []string `json:"domains"`
	} `json:"data"`
}

// runPushed follows a feed without pull: its content is what was last
// pushed to Linseed's threat-feed endpoint under its name, read every
// PushPoll; each new push is given to Contents and is the feed's
// lastSuccessfulSync.
func (c *Controller) runPushed(ctx context.Context, f *v3.GlobalThreatFeed) {
	poll := c.PushPoll
	if poll <= 0 {
		poll = DefaultPushPoll
	}
	var last string
	for {
		created, err := c.readPushed(ctx, f, last)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.Syncer.Log.Warn("reading a pushed threat feed failed", "feed", f.Name, "err", err)
			_ = c.Syncer.WriteStatus(ctx, f.Name, func(st *v3.GlobalThreatFeedStatus) {
				st.ErrorConditions = SetCondition(st.ErrorConditions, ConditionPullFailed, err.Error())
			})
		} else if created != last {
			last = created
			now := metav1.NewTime(c.Syncer.now())
			_ = c.Syncer.WriteStatus(ctx, f.Name, func(st *v3.GlobalThreatFeedStatus) {
				st.LastSuccessfulSync = &now
				st.ErrorConditions = SetCondition(st.ErrorConditions, ConditionPullFailed, "")
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(poll):
		}
	}
}

// readPushed reads the feed's document; when it is newer than last, its
// entries go to Contents. It returns the document's created_at ("" if
// nothing was pushed yet).
func (c *Controller) readPushed(ctx context.Context, f *v3.GlobalThreatFeed, last string) (string, error) {
	var page api.List
	p := api.Params{Selector: "id = " + strconv.Quote(f.Name), MaxPageSize: 1}
	if err := c.Linseed.Post(ctx, pushedPath(f.Spec.Content), p, &page); err != nil {
		return last, fmt.Errorf("reading the pushed feed from Linseed: %w", err)
	}
	if len(page.Items) == 0 {
		return "", nil
	}
	var doc pushed
	if err := json.Unmarshal(page.Items[0], &doc); err != nil {
		return last, fmt.Errorf("the pushed feed: %w", err)
	}
	if doc.Data.CreatedAt == last {
		return last, nil
	}
	list := doc.Data.IPs
	if f.Spec.Content == v3.ThreatFeedContentDomainNameSet {
		list = doc.Data.Domains
	}
	entries, err := threatfeed.Parse(f.Spec.Content, v3.ThreatFeedFormat{}, []byte(strings.Join(list, "\n")))
	if err != nil {
		return last, fmt.Errorf("the pushed feed (created %s): %w", doc.Data.CreatedAt, err)
	}
	if c.Contents != nil {
		c.Contents.Put(f.Name, f.Spec.Content, entries)
	}
	c.Syncer.Log.Info("pushed threat feed read", "feed", f.Name, "entries", len(entries), "created", doc.Data.CreatedAt)
	return doc.Data.CreatedAt, nil
}
