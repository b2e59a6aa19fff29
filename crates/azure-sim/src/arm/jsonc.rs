//! Request bodies as Resource Manager reads them. ARM deserializes with Json.NET, which
//! accepts more than strict JSON: `//` and `/* */` comments and unquoted property names.
//! The Azure CLI depends on it: `az deployment ... create --template-file` splices the
//! template file's text, comments and whitespace as written, after an unquoted `template:`
//! key (azure-cli `resource/custom.py`, "a JSONC format that service can deserialize").
//! [`to_strict`] rewrites such text into strict JSON; strict JSON passes unchanged.

/// Strict JSON for a Json.NET-readable text: comments dropped, bare property names quoted.
pub fn to_strict(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    // The last significant character written outside strings and comments.
    let mut last = ' ';
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                // Copy the string literal, escapes included.
                out.push(c);
                i += 1;
                while i < chars.len() {
                    let d = chars[i];
                    out.push(d);
                    i += 1;
                    if d == '\\' {
                        if let Some(e) = chars.get(i) {
                            out.push(*e);
                            i += 1;
                        }
                    } else if d == '"' {
                        break;
                    }
                }
                last = '"';
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            c if (c.is_ascii_alphabetic() || c == '_' || c == '$') && matches!(last, '{' | ',') => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '$')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = chars[i..].iter().find(|c| !c.is_whitespace());
                if next == Some(&':') {
                    out.push('"');
                    out.push_str(&word);
                    out.push('"');
                    last = '"';
                } else {
                    out.push_str(&word);
                    last = 'a';
                }
            }
            c => {
                out.push(c);
                if !c.is_whitespace() {
                    last = c;
                }
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_strict;

    #[test]
    fn the_cli_s_spliced_template_becomes_strict_json() {
        let sent = "{\"location\": \"japaneast\", \"properties\": {\"mode\": \"Incremental\", template:{\r\n  // a comment\r\n  \"a\": \"x // not a comment\", /* block */ \"b\": [1, 2]}}}";
        let v: serde_json::Value = serde_json::from_str(&to_strict(sent)).unwrap();
        assert_eq!(v["properties"]["template"]["a"], "x // not a comment");
        assert_eq!(v["properties"]["template"]["b"][1], 2);
        assert_eq!(v["location"], "japaneast");
    }

    #[test]
    fn strict_json_and_bare_values_pass_unchanged() {
        let strict = r#"{"a": true, "b": null, "c": "{x: 1}", "d": [false]}"#;
        assert_eq!(to_strict(strict), strict);
    }
}
