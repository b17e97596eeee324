// operator-config prints the Prometheus configuration the Prometheus Operator generates for a rendered stack.
//
// Usage: operator-config <manifests directory>
//
// It reads every Prometheus, ServiceMonitor, PodMonitor, Probe and ScrapeConfig of the directory (one
// Kubernetes object per YAML file, as scripts/render writes them) and runs the operator's own config
// generator (pkg/prometheus, at the version tools/versions.yaml pins) over them, as the operator does for
// the objects a Prometheus selects. Selection itself (label and namespace selectors, which needs an API
// server) is not repeated: every monitor of the directory is passed, and the stack labels every one with
// the selector of its Prometheus (tests/components/metrics check that). No Secret is read: the stack's
// monitors reference none.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	"github.com/prometheus-operator/prometheus-operator/pkg/assets"
	prompkg "github.com/prometheus-operator/prometheus-operator/pkg/prometheus"
	"sigs.k8s.io/yaml"
)

type typeMeta struct {
	Kind string `json:"kind"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: operator-config <manifests directory>")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "operator-config:", err)
		os.Exit(1)
	}
}

func decode(path string, data []byte, into any) error {
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func run(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	var prom *monitoringv1.Prometheus
	sMons := map[string]*monitoringv1.ServiceMonitor{}
	pMons := map[string]*monitoringv1.PodMonitor{}
	probes := map[string]*monitoringv1.Probe{}
	sCons := map[string]*monitoringv1alpha1.ScrapeConfig{}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var meta typeMeta
		if err := yaml.Unmarshal(data, &meta); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch meta.Kind {
		case "Prometheus":
			if prom != nil {
				return fmt.Errorf("%s: a second Prometheus (one per stack)", path)
			}
			prom = &monitoringv1.Prometheus{}
			err = decode(path, data, prom)
		case "ServiceMonitor":
			m := &monitoringv1.ServiceMonitor{}
			err = decode(path, data, m)
			sMons[m.Namespace+"/"+m.Name] = m
		case "PodMonitor":
			m := &monitoringv1.PodMonitor{}
			err = decode(path, data, m)
			pMons[m.Namespace+"/"+m.Name] = m
		case "Probe":
			m := &monitoringv1.Probe{}
			err = decode(path, data, m)
			probes[m.Namespace+"/"+m.Name] = m
		case "ScrapeConfig":
			m := &monitoringv1alpha1.ScrapeConfig{}
			err = decode(path, data, m)
			sCons[m.Namespace+"/"+m.Name] = m
		}
		if err != nil {
			return err
		}
	}
	if prom == nil {
		return fmt.Errorf("%s: no Prometheus object", dir)
	}
	cg, err := prompkg.NewConfigGenerator(nil, prom)
	if err != nil {
		return err
	}
	out, err := cg.GenerateServerConfiguration(prom, sMons, pMons, probes, sCons, &assets.StoreBuilder{}, nil, nil, nil, nil)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(out)
	return err
}
