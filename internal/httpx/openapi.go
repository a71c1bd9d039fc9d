package httpx

import (
	"encoding/json"
	"fmt"
	"reflect"

	"go.yaml.in/yaml/v3"
)

// MergeOpenAPI merges service fragments (YAML or JSON OpenAPI 3.1 documents
// holding paths and components) into base and returns the result as JSON. A
// path or component defined twice with different content is an error, so two
// services cannot silently shadow each other.
func MergeOpenAPI(base []byte, fragments ...[]byte) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(base, &doc); err != nil {
		return nil, fmt.Errorf("base document: %w", err)
	}
	for i, frag := range fragments {
		var f map[string]any
		if err := yaml.Unmarshal(frag, &f); err != nil {
			return nil, fmt.Errorf("fragment %d: %w", i, err)
		}
		if err := mergeSection(doc, f, "paths"); err != nil {
			return nil, fmt.Errorf("fragment %d: %w", i, err)
		}
		comps, _ := f["components"].(map[string]any)
		for kind := range comps {
			if err := mergeSection(ensureMap(doc, "components"), comps, kind); err != nil {
				return nil, fmt.Errorf("fragment %d: components: %w", i, err)
			}
		}
		if tags, ok := f["tags"].([]any); ok {
			existing, _ := doc["tags"].([]any)
			doc["tags"] = append(existing, tags...)
		}
	}
	return json.Marshal(doc)
}

func mergeSection(dst, src map[string]any, key string) error {
	from, _ := src[key].(map[string]any)
	if len(from) == 0 {
		return nil
	}
	to := ensureMap(dst, key)
	for k, v := range from {
		if old, dup := to[k]; dup && !reflect.DeepEqual(old, v) {
			return fmt.Errorf("%s %q defined twice with different content", key, k)
		}
		to[k] = v
	}
	return nil
}

func ensureMap(m map[string]any, key string) map[string]any {
	sub, ok := m[key].(map[string]any)
	if !ok {
		sub = map[string]any{}
		m[key] = sub
	}
	return sub
}
