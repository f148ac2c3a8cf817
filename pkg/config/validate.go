// The validator instance, its rules and the messages people read.

package config

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/go-playground/validator/v10"

	"github.com/plba/plba/pkg/contracts"
)

var (
	validateOnce sync.Once
	validate     *validator.Validate
)

func theValidator() *validator.Validate {
	validateOnce.Do(func() {
		validate = validator.New(validator.WithRequiredStructEnabled())
		validate.RegisterTagNameFunc(func(f reflect.StructField) string {
			name, squash := fieldKey(f)
			if squash {
				return squashSegment
			}
			if name == "" {
				return f.Name
			}
			return name
		})
		// Validate a Secret by its value, never printing it.
		validate.RegisterCustomTypeFunc(func(v reflect.Value) any { return v.String() }, contracts.Secret(""))
	})
	return validate
}

func ruleOf(fe validator.FieldError) string {
	if fe.Param() != "" {
		return fe.Tag() + "=" + fe.Param()
	}
	return fe.Tag()
}

// ruleMessage says what a broken rule means; the value is shown unless it
// is secret.
func ruleMessage(fe validator.FieldError, secret bool) string {
	val := contracts.Redacted
	if !secret {
		val = fmt.Sprintf("%q", fmt.Sprint(fe.Value()))
		if k := fe.Kind(); k != reflect.String {
			val = fmt.Sprint(fe.Value())
		}
	}
	var what string
	switch fe.Tag() {
	case "required":
		return fmt.Sprintf("is required but not set (rule %q)", ruleOf(fe))
	case "min", "gte":
		what = "must be at least " + fe.Param() + unit(fe.Kind())
	case "max", "lte":
		what = "must be at most " + fe.Param() + unit(fe.Kind())
	case "len":
		what = "must be exactly " + fe.Param() + unit(fe.Kind())
	case "gt":
		what = "must be greater than " + fe.Param()
	case "lt":
		what = "must be less than " + fe.Param()
	case "oneof":
		what = "must be one of [" + fe.Param() + "]"
	case "hostname_port":
		what = "must be host:port"
	case "url":
		what = "must be a URL"
	case "email":
		what = "must be an e-mail address"
	default:
		what = "breaks the rule"
	}
	return fmt.Sprintf("%s, got %s (rule %q)", what, val, ruleOf(fe))
}

// unit says what a length rule counts.
func unit(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return " characters long"
	case reflect.Slice, reflect.Map, reflect.Array:
		return " items"
	}
	return ""
}
