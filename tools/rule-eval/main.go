// rule-eval evaluates the stack's rule files on test series with Prometheus's own rule engine (the rules and
// promql packages at the deployed Prometheus release, as promtool's unit tests do) and prints what promtool
// does not: every firing alert with its rendered annotations and value, and the result of any PromQL query.
//
// Usage: rule-eval < cases.json > results.json
//
// Input: a JSON list of cases, each
//
//	{"rule_files": ["a.yaml"], "interval": "1m", "evaluation_interval": "1m",
//	 "input_series": [{"series": "up{job=\"x\"}", "values": "0x20"}],
//	 "external_labels": {"k": "v"}, "external_url": "https://prometheus.example",
//	 "eval_times": ["10m"], "queries": [{"expr": "up", "eval_time": "10m"}]}
//
// (interval, series and values as in promtool's test files). Output: a JSON list, one result per case:
//
//	{"alerts": {"10m": [{"labels": {...}, "annotations": {...}, "value": 1.5, "active_at_seconds": 60}]},
//	 "queries": [{"expr": "up", "eval_time": "10m", "samples": [{"labels": {...}, "value": 0}], "error": ""}],
//	 "errors": ["..."]}
//
// Alerts are those firing at the evaluation step that covers each eval time (promtool's rule: the step ts
// with ts <= eval_time < ts + evaluation_interval). Rule evaluation errors and load errors go to "errors";
// the exit status is 0 unless the input cannot be read.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
)

type series struct {
	Series string `json:"series"`
	Values string `json:"values"`
}

type query struct {
	Expr     string `json:"expr"`
	EvalTime string `json:"eval_time"`
}

type testCase struct {
	RuleFiles          []string          `json:"rule_files"`
	Interval           string            `json:"interval"`
	EvaluationInterval string            `json:"evaluation_interval"`
	InputSeries        []series          `json:"input_series"`
	ExternalLabels     map[string]string `json:"external_labels"`
	ExternalURL        string            `json:"external_url"`
	EvalTimes          []string          `json:"eval_times"`
	Queries            []query           `json:"queries"`
}

type alert struct {
	Labels          map[string]string `json:"labels"`
	Annotations     map[string]string `json:"annotations"`
	Value           float64           `json:"value"`
	ActiveAtSeconds float64           `json:"active_at_seconds"`
}

type sample struct {
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

type queryResult struct {
	Expr     string   `json:"expr"`
	EvalTime string   `json:"eval_time"`
	Samples  []sample `json:"samples"`
	Error    string   `json:"error"`
}

type result struct {
	Alerts  map[string][]alert `json:"alerts"`
	Queries []queryResult      `json:"queries"`
	Errors  []string           `json:"errors"`
}

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rule-eval: reading stdin:", err)
		os.Exit(1)
	}
	var cases []testCase
	if err := json.Unmarshal(data, &cases); err != nil {
		fmt.Fprintln(os.Stderr, "rule-eval: stdin: expected a JSON list of cases:", err)
		os.Exit(1)
	}
	out := make([]result, 0, len(cases))
	for _, c := range cases {
		out = append(out, run(c))
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "rule-eval:", err)
		os.Exit(1)
	}
}

func duration(text, fallback string) (time.Duration, error) {
	if text == "" {
		text = fallback
	}
	d, err := model.ParseDuration(text)
	return time.Duration(d), err
}

func toMap(ls labels.Labels) map[string]string {
	m := make(map[string]string, ls.Len())
	ls.Range(func(l labels.Label) { m[l.Name] = l.Value })
	return m
}

func run(c testCase) (res result) {
	res = result{Alerts: map[string][]alert{}, Queries: []queryResult{}, Errors: []string{}}
	fail := func(format string, args ...any) result {
		res.Errors = append(res.Errors, fmt.Sprintf(format, args...))
		return res
	}
	interval, err := duration(c.Interval, "1m")
	if err != nil {
		return fail("interval: %v", err)
	}
	evalInterval, err := duration(c.EvaluationInterval, "1m")
	if err != nil {
		return fail("evaluation_interval: %v", err)
	}
	load := fmt.Sprintf("load %s\n", model.Duration(interval))
	for _, s := range c.InputSeries {
		load += fmt.Sprintf("  %s %s\n", s.Series, s.Values)
	}
	suite, err := promqltest.NewLazyLoader(load, promqltest.LazyLoaderOpts{EnableAtModifier: true, EnableNegativeOffset: true})
	if err != nil {
		return fail("input_series: %v", err)
	}
	defer suite.Close()
	suite.SubqueryInterval = evalInterval

	manager := rules.NewManager(&rules.ManagerOptions{
		QueryFunc:  rules.EngineQueryFunc(suite.QueryEngine(), suite.Storage()),
		Appendable: suite.Storage(),
		Context:    context.Background(),
		NotifyFunc: func(context.Context, string, ...*rules.Alert) {},
		Logger:     promslog.NewNopLogger(),
	})
	groupsMap, errs := manager.LoadGroups(evalInterval, labels.FromMap(c.ExternalLabels), c.ExternalURL, nil, false, c.RuleFiles...)
	if errs != nil {
		for _, e := range errs {
			res.Errors = append(res.Errors, "rule_files: "+e.Error())
		}
		return res
	}
	names := make([]string, 0, len(groupsMap))
	for k := range groupsMap {
		names = append(names, k)
	}
	sort.Strings(names)
	groups := make([]*rules.Group, 0, len(names))
	for _, k := range names {
		g := groupsMap[k]
		for _, r := range g.Rules() {
			if ar, ok := r.(*rules.AlertingRule); ok {
				ar.SetRestored(true)
			}
		}
		groups = append(groups, g)
	}

	mint := time.Unix(0, 0).UTC()
	var evalTimes []time.Duration
	var maxt time.Duration
	for _, t := range c.EvalTimes {
		d, err := duration(t, "")
		if err != nil {
			return fail("eval_times: %q: %v", t, err)
		}
		evalTimes = append(evalTimes, d)
		maxt = max(maxt, d)
	}
	for _, q := range c.Queries {
		d, err := duration(q.EvalTime, "")
		if err != nil {
			return fail("queries: eval_time %q: %v", q.EvalTime, err)
		}
		maxt = max(maxt, d)
	}
	for ts := mint; !ts.After(mint.Add(maxt)); ts = ts.Add(evalInterval) {
		stop := false
		suite.WithSamplesTill(ts, func(err error) {
			if err != nil {
				res.Errors = append(res.Errors, err.Error())
				stop = true
				return
			}
			for _, g := range groups {
				g.Eval(suite.Context(), ts)
				for _, r := range g.Rules() {
					if r.LastError() != nil {
						res.Errors = append(res.Errors, fmt.Sprintf("rule %s at %s: %v", r.Name(), ts.Sub(mint), r.LastError()))
						stop = true
					}
				}
			}
		})
		if stop {
			return res
		}
		for i, t := range evalTimes {
			if ts.Sub(mint) > t || t >= ts.Add(evalInterval).Sub(mint) {
				continue
			}
			key := c.EvalTimes[i]
			res.Alerts[key] = []alert{}
			for _, g := range groups {
				for _, r := range g.Rules() {
					ar, ok := r.(*rules.AlertingRule)
					if !ok {
						continue
					}
					for _, a := range ar.ActiveAlerts() {
						if a.State != rules.StateFiring {
							continue
						}
						res.Alerts[key] = append(res.Alerts[key], alert{
							Labels: toMap(a.Labels), Annotations: toMap(a.Annotations), Value: a.Value,
							ActiveAtSeconds: a.ActiveAt.Sub(mint).Seconds(),
						})
					}
				}
			}
		}
	}
	for _, q := range c.Queries {
		d, _ := duration(q.EvalTime, "")
		qr := queryResult{Expr: q.Expr, EvalTime: q.EvalTime, Samples: []sample{}}
		instant, err := suite.QueryEngine().NewInstantQuery(suite.Context(), suite.Queryable(), nil, q.Expr, mint.Add(d))
		if err != nil {
			qr.Error = err.Error()
			res.Queries = append(res.Queries, qr)
			continue
		}
		r := instant.Exec(suite.Context())
		switch v := r.Value.(type) {
		case promql.Vector:
			for _, s := range v {
				qr.Samples = append(qr.Samples, sample{Labels: toMap(s.Metric), Value: s.F})
			}
		case promql.Scalar:
			qr.Samples = append(qr.Samples, sample{Labels: map[string]string{}, Value: v.V})
		default:
			if r.Err == nil {
				qr.Error = fmt.Sprintf("expected an instant vector or a scalar, got %s", r.Value.Type())
			}
		}
		if r.Err != nil {
			qr.Error = r.Err.Error()
		}
		instant.Close()
		res.Queries = append(res.Queries, qr)
	}
	return res
}
