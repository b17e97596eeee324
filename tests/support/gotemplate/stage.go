// Command stage runs Alloy loki.process stage.template cases through Go's own text/template.
//
// It reads a JSON list of cases on stdin: {"template", "source", "extracted", "entry"}.
// As Alloy's stage (internal/component/loki/process/stages/template.go) it passes every
// extracted value by name, .Value only when the source was extracted, and .Entry; it
// answers, per case, {"value": output} or {"error": message} (the stage then changes nothing).
// Only the functions the stack's templates call are registered.
package main

import (
	"encoding/json"
	"os"
	"strings"
	"text/template"
)

type stageCase struct {
	Template  string            `json:"template"`
	Source    string            `json:"source"`
	Extracted map[string]string `json:"extracted"`
	Entry     string            `json:"entry"`
}

func run(c stageCase) map[string]string {
	funcs := template.FuncMap{"ToUpper": strings.ToUpper, "ToLower": strings.ToLower, "TrimSpace": strings.TrimSpace}
	parsed, err := template.New("pipeline_template").Funcs(funcs).Parse(c.Template)
	if err != nil {
		return map[string]string{"error": "parse: " + err.Error()}
	}
	data := make(map[string]any, len(c.Extracted)+2)
	for name, value := range c.Extracted {
		data[name] = value
		if name == c.Source {
			data["Value"] = value
		}
	}
	data["Entry"] = c.Entry
	var out strings.Builder
	if err := parsed.Execute(&out, data); err != nil {
		return map[string]string{"error": err.Error()}
	}
	return map[string]string{"value": out.String()}
}

func main() {
	var cases []stageCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		os.Stderr.WriteString("stage: bad input: " + err.Error() + "\n")
		os.Exit(2)
	}
	results := make([]map[string]string, 0, len(cases))
	for _, c := range cases {
		results = append(results, run(c))
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		os.Exit(1)
	}
}
