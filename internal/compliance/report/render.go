package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"text/template"
	"time"

	"sigs.k8s.io/yaml"
)

// Funcs are the functions report templates may call:
//
//	csv     a value as one CSV field (quoted when it must be)
//	join    a list's items joined by a separator (join ";" .AppliedPolicies)
//	json    a value as JSON
//	yaml    a value as YAML
//	date    a time as RFC 3339
//	sub     a - b (the unprotected: sub .NumTotal .NumIngressProtected)
var Funcs = template.FuncMap{
	"sub":  func(a, b int) int { return a - b },
	"csv":  csvField,
	"join": join,
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"yaml": func(v any) (string, error) {
		b, err := yaml.Marshal(v)
		return string(b), err
	},
	"date": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}

func csvField(v any) string {
	s := fmt.Sprint(v)
	if strings.ContainsAny(s, ",\"\r\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// join joins a list's items (anything with String, or printed) by sep.
func join(sep string, list any) (string, error) {
	v := reflect.ValueOf(list)
	if v.Kind() != reflect.Slice {
		return "", fmt.Errorf("join: %T is not a list", list)
	}
	parts := make([]string, v.Len())
	for i := range parts {
		parts[i] = fmt.Sprint(v.Index(i).Interface())
	}
	return strings.Join(parts, sep), nil
}

// Parse parses a report template with Funcs.
func Parse(name, text string) (*template.Template, error) {
	return template.New(name).Funcs(Funcs).Option("missingkey=error").Parse(text)
}

// Render runs a template over a report's data.
func Render(name, text string, d *ReportData) ([]byte, error) {
	t, err := Parse(name, text)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Check says whether a template parses and runs over Sample data (so a
// field it names exists); a summary template must also give JSON.
func Check(name, text string, summary bool) error {
	out, err := Render(name, text, Sample())
	if err != nil {
		return err
	}
	if summary {
		var v any
		if err := json.Unmarshal(out, &v); err != nil {
			return fmt.Errorf("the summary must render JSON (the console's widgets): %v", err)
		}
	}
	return nil
}
