package web

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/flowlens/flowlens/alarm"
	"github.com/flowlens/flowlens/metricstore"
)

// AlarmEngine is what the pages use of the alarm module.
type AlarmEngine interface {
	List() []alarm.Status
	Get(name string) (alarm.Status, error)
	History(ctx context.Context, name string, limit int) ([]alarm.HistoryItem, error)
}

type alarmPages struct{ e AlarmEngine }

func alarmAdapter(e AlarmEngine) alarmsAPI {
	if e == nil {
		return nil
	}
	return alarmPages{e}
}

func alarmRowOf(s alarm.Status) alarmRow {
	stat := string(s.Statistic)
	cond := fmt.Sprintf("%s %s %g for %d of %d periods of %s", stat, s.Comparison, s.Threshold,
		s.DatapointsToAlarm, s.EvaluationPeriods, time.Duration(s.Period))
	metric := s.Namespace + " " + s.Metric
	keys := make([]string, 0, len(s.Dimensions))
	for k := range s.Dimensions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		metric += " " + k + "=" + s.Dimensions[k]
	}
	return alarmRow{Name: s.Name, Metric: metric, Condition: cond, State: string(s.State), Reason: s.StateReason, Updated: s.StateUpdated,
		Series: metricstore.ID{Namespace: s.Namespace, Metric: s.Metric, Dimensions: s.Dimensions}, Threshold: s.Threshold}
}

func (a alarmPages) list(ctx context.Context) ([]alarmRow, error) {
	var out []alarmRow
	for _, s := range a.e.List() {
		out = append(out, alarmRowOf(s))
	}
	// Alarms that fire first, then those without data, then OK.
	rank := map[string]int{"ALARM": 0, "INSUFFICIENT_DATA": 1, "OK": 2}
	sort.SliceStable(out, func(i, j int) bool { return rank[out[i].State] < rank[out[j].State] })
	return out, nil
}

func (a alarmPages) history(ctx context.Context, name string) (alarmRow, []alarmTransition, error) {
	s, err := a.e.Get(name)
	if errors.Is(err, alarm.ErrNotFound) {
		return alarmRow{}, nil, fmt.Errorf("%w: alarm %q", errNotFound, name)
	}
	if err != nil {
		return alarmRow{}, nil, err
	}
	items, err := a.e.History(ctx, name, 200)
	if err != nil {
		return alarmRow{}, nil, err
	}
	var out []alarmTransition
	for _, h := range items {
		t := alarmTransition{Time: h.Time, From: string(h.OldState), To: string(h.NewState), Reason: h.Reason}
		if h.Kind == "config" {
			t.From, t.To = "", "changed"
		}
		out = append(out, t)
	}
	return alarmRowOf(s), out, nil
}
