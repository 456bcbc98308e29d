package web

import (
	"context"
	"net/url"
	"time"

	"github.com/flowlens/flowlens/metricstore"
)

// The UI reaches the other features through small interfaces of its own
// (below), implemented by adapters (the adapter_*.go files) over each
// module's Go API, which Dependencies hands over typed: a module that lacks
// a method the UI needs is a compile error in the wiring. A feature that is
// not built in stays nil and its pages say "not available".
type modules struct {
	monitors monitorsAPI
	alarms   alarmsAPI
	flowlogs flowlogsAPI
	internet internetAPI
	diagnose diagnoseAPI
}

// features says which optional pages have data behind them.
type features struct {
	Monitors, Alarms, FlowLogs, Internet bool
}

func (m modules) features() features {
	return features{Monitors: m.monitors != nil, Alarms: m.alarms != nil, FlowLogs: m.flowlogs != nil, Internet: m.internet != nil}
}

// adapters builds the pages' view of the features d hands over.
func adapters(d Dependencies) modules {
	return modules{
		monitors: monitorAdapter(d.Monitors, d.Metrics),
		alarms:   alarmAdapter(d.Alarms),
		flowlogs: flowlogAdapter(d.Query, d.FlowLogs),
		internet: internetAdapter(d.Internet),
		diagnose: diagnoseAdapter(d.Diagnose),
	}
}

// monitorRow is one monitor in lists.
type monitorRow struct {
	Name      string
	Status    string // pending, active, error
	Health    string // HEALTHY, DEGRADED, UNKNOWN
	Local     []string
	Remote    []string
	Period    time.Duration
	Evaluated time.Time
	Summary   string // the top evidence line, when degraded
}

// monitorForm is the create/edit form.
type monitorForm struct {
	Name   string
	Local  []string
	Remote []string
	Period string // Go duration text, e.g. 60s
}

// monitorsAPI is what the monitor pages need from the monitor module.
type monitorsAPI interface {
	list(ctx context.Context) ([]monitorRow, error)
	events(ctx context.Context, n int) ([]healthEvent, error)
	get(ctx context.Context, name string, since time.Duration) (*monitorDetail, error)
	save(ctx context.Context, f monitorForm, create bool) error
	remove(ctx context.Context, name string) error
}

// alarmRow is one alarm.
type alarmRow struct {
	Name      string
	Metric    string
	Condition string
	State     string // OK, ALARM, INSUFFICIENT_DATA
	Reason    string
	Updated   time.Time
	// Series is the metric the alarm watches, Threshold its limit (for
	// the chart on the alarm's page).
	Series    metricstore.ID
	Threshold float64
}

// alarmTransition is one entry of an alarm's history.
type alarmTransition struct {
	Time     time.Time
	From, To string
	Reason   string
}

type alarmsAPI interface {
	list(ctx context.Context) ([]alarmRow, error)
	history(ctx context.Context, name string) (alarmRow, []alarmTransition, error)
}

// internetEvent is one internet health event.
type internetEvent struct {
	ID      string
	Monitor string
	Status  string // ACTIVE, RESOLVED
	Type    string // PERFORMANCE, AVAILABILITY
	Cause   string
	Started time.Time
	Ended   time.Time
	Impact  string
}

func (e internetEvent) healthEvent() healthEvent {
	return healthEvent{Time: e.Started, Source: "internet", Subject: e.Monitor + " " + e.Type, State: e.Status,
		Detail: e.Cause, Href: "/internet?monitor=" + url.QueryEscape(e.Monitor)}
}

// cityNetwork is one row of the internet page.
type cityNetwork struct {
	City, Country string
	ASN           uint32
	ASName        string
	Network       string // "AS64500", or "unknown network (private range)"
	Lat, Lon      float64
	Bytes         float64
	Share         float64 // fraction of the monitor's traffic
	RTTP50        float64 // ms
	RTTP90        float64
	RTTP95        float64
	Performance   float64 // score 0-100
	Availability  float64
}

type internetAPI interface {
	// monitors names the internet monitors, in order.
	monitors() []string
	// events lists recent health events of every monitor, newest first.
	events(ctx context.Context) ([]internetEvent, error)
	// locations ranks one monitor's city-networks by traffic over a range.
	locations(ctx context.Context, monitor string, start, end time.Time) ([]cityNetwork, error)
}

// queryResult is one flow-log query's answer.
type queryResult struct {
	Fields  []string
	Rows    [][]string
	Scanned int64 // records scanned
	Matched int64
	Bytes   int64 // bytes scanned
	Elapsed time.Duration
	// Warnings are the query's hints (a field no record has).
	Warnings []string
	// BinField names the bin() column when the query is `stats ... by
	// bin()`, so the page can chart it (set by the page, from the query).
	BinField string
}

type flowlogsAPI interface {
	groups(ctx context.Context) ([]string, error)
	query(ctx context.Context, group, text string, start, end time.Time) (*queryResult, error)
}
