//! ARM template expressions: `[function(args).property[index]]` inside JSON strings, with the
//! functions the Lighthouse onboarding templates use (`parameters`, `variables`, `guid`,
//! `resourceId`, `concat`, ...). `guid()` is ARM's: a version-5 UUID over the arguments joined
//! by `-` in the namespace `11fb06fb-712d-4ddd-98c7-e71bbd588830`. An unsupported function is
//! a template validation error, never a silent guess.

use serde_json::{Map, Value, json};

/// Why a template could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// What expressions can see.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Parameter values.
    pub parameters: Map<String, Value>,
    /// Variables (raw; evaluated on use).
    pub variables: Map<String, Value>,
    /// Subscription id of the deployment.
    pub subscription: String,
    /// Tenant of the subscription.
    pub tenant: String,
    /// Resource group, for resource-group deployments.
    pub resource_group: Option<String>,
    /// Deployment name.
    pub deployment: String,
}

const GUID_NAMESPACE: uuid::Uuid = uuid::uuid!("11fb06fb-712d-4ddd-98c7-e71bbd588830");

/// ARM's `guid(...)`.
pub fn arm_guid(parts: &[String]) -> String {
    uuid::Uuid::new_v5(&GUID_NAMESPACE, parts.join("-").as_bytes()).to_string()
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(i64),
    Open,
    Close,
    Comma,
    Dot,
    LBracket,
    RBracket,
}

fn tokenize(s: &str) -> Result<Vec<Token>, TemplateError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            '.' => {
                out.push(Token::Dot);
                i += 1;
            }
            '[' => {
                out.push(Token::LBracket);
                i += 1;
            }
            ']' => {
                out.push(Token::RBracket);
                i += 1;
            }
            '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(TemplateError(format!("unterminated string in '{s}'"))),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            text.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token::Str(text));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while chars.get(i).is_some_and(char::is_ascii_digit) {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                out.push(Token::Num(
                    text.parse()
                        .map_err(|_| TemplateError(format!("bad number '{text}'")))?,
                ));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => {
                return Err(TemplateError(format!(
                    "unexpected character '{other}' in '{s}'"
                )));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    scope: &'a Scope,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn expect(&mut self, t: &Token) -> Result<(), TemplateError> {
        if self.peek() == Some(t) {
            self.at += 1;
            Ok(())
        } else {
            Err(TemplateError(format!("expected {t:?} in expression")))
        }
    }

    fn expr(&mut self) -> Result<Value, TemplateError> {
        let mut value = match self.peek().cloned() {
            Some(Token::Str(s)) => {
                self.at += 1;
                Value::String(s)
            }
            Some(Token::Num(n)) => {
                self.at += 1;
                json!(n)
            }
            Some(Token::Ident(name)) => {
                self.at += 1;
                self.expect(&Token::Open)?;
                let mut args = vec![];
                if self.peek() != Some(&Token::Close) {
                    loop {
                        args.push(self.expr()?);
                        if self.peek() == Some(&Token::Comma) {
                            self.at += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.expect(&Token::Close)?;
                call(&name, &args, self.scope)?
            }
            other => return Err(TemplateError(format!("unexpected token {other:?}"))),
        };
        loop {
            match self.peek().cloned() {
                Some(Token::Dot) => {
                    self.at += 1;
                    let Some(Token::Ident(p)) = self.peek().cloned() else {
                        return Err(TemplateError("expected a property name after '.'".into()));
                    };
                    self.at += 1;
                    value = value
                        .get(&p)
                        .cloned()
                        .ok_or_else(|| TemplateError(format!("property '{p}' does not exist")))?;
                }
                Some(Token::LBracket) => {
                    self.at += 1;
                    let index = self.expr()?;
                    self.expect(&Token::RBracket)?;
                    value = match (&value, &index) {
                        (Value::Array(a), Value::Number(n)) => n
                            .as_u64()
                            .and_then(|i| a.get(usize::try_from(i).ok()?))
                            .cloned(),
                        (Value::Object(o), Value::String(k)) => o.get(k).cloned(),
                        _ => None,
                    }
                    .ok_or_else(|| TemplateError("index out of range".into()))?;
                }
                _ => return Ok(value),
            }
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn resource_id(
    args: &[Value],
    scope: &Scope,
    subscription_level: bool,
) -> Result<Value, TemplateError> {
    let texts: Vec<String> = args.iter().map(text).collect();
    let Some(type_at) = texts.iter().position(|t| t.contains('/')) else {
        return Err(TemplateError("resourceId needs a resource type".into()));
    };
    let (mut sub, mut rg) = (
        scope.subscription.clone(),
        if subscription_level {
            None
        } else {
            scope.resource_group.clone()
        },
    );
    match &texts[..type_at] {
        [] => {}
        [one] if uuid::Uuid::parse_str(one).is_ok() => sub.clone_from(one),
        [one] => rg = Some(one.clone()),
        [s, r] => {
            sub.clone_from(s);
            rg = Some(r.clone());
        }
        _ => {
            return Err(TemplateError(
                "resourceId has too many scope arguments".into(),
            ));
        }
    }
    let ty = texts[type_at].trim_matches('/');
    let mut parts = ty.split('/');
    let namespace = parts.next().unwrap_or_default();
    let types: Vec<&str> = parts.collect();
    let names = &texts[type_at + 1..];
    if types.len() != names.len() {
        return Err(TemplateError(format!(
            "resourceId: type '{ty}' needs {} name(s)",
            types.len()
        )));
    }
    let mut id = format!("/subscriptions/{sub}");
    if let Some(rg) = rg {
        id.push_str(&format!("/resourceGroups/{rg}"));
    }
    id.push_str(&format!("/providers/{namespace}"));
    for (t, n) in types.iter().zip(names) {
        id.push_str(&format!("/{t}/{n}"));
    }
    Ok(json!(id))
}

fn call(name: &str, args: &[Value], scope: &Scope) -> Result<Value, TemplateError> {
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .ok_or_else(|| TemplateError(format!("{name}() needs more arguments")))
    };
    match name.to_ascii_lowercase().as_str() {
        "parameters" => {
            let n = text(&arg(0)?);
            scope
                .parameters
                .get(&n)
                .cloned()
                .ok_or_else(|| TemplateError(format!("The template parameter '{n}' is not found.")))
        }
        "variables" => {
            let n = text(&arg(0)?);
            let raw = scope.variables.get(&n).cloned().ok_or_else(|| {
                TemplateError(format!("The template variable '{n}' is not found."))
            })?;
            evaluate(&raw, scope)
        }
        "concat" => {
            if args.iter().all(Value::is_array) {
                Ok(Value::Array(
                    args.iter()
                        .flat_map(|a| a.as_array().cloned().unwrap_or_default())
                        .collect(),
                ))
            } else {
                Ok(json!(args.iter().map(text).collect::<String>()))
            }
        }
        "guid" => Ok(json!(arm_guid(&args.iter().map(text).collect::<Vec<_>>()))),
        "resourceid" => resource_id(args, scope, false),
        "subscriptionresourceid" => resource_id(args, scope, true),
        "subscription" => Ok(json!({
            "id": format!("/subscriptions/{}", scope.subscription),
            "subscriptionId": scope.subscription,
            "tenantId": scope.tenant,
        })),
        "resourcegroup" => {
            let rg = scope.resource_group.clone().ok_or_else(|| {
                TemplateError(
                    "resourceGroup() is not available in a subscription deployment".into(),
                )
            })?;
            Ok(
                json!({"id": format!("/subscriptions/{}/resourceGroups/{rg}", scope.subscription), "name": rg}),
            )
        }
        "deployment" => Ok(json!({"name": scope.deployment})),
        "tolower" => Ok(json!(text(&arg(0)?).to_lowercase())),
        "toupper" => Ok(json!(text(&arg(0)?).to_uppercase())),
        "string" => Ok(json!(text(&arg(0)?))),
        "equals" => Ok(json!(arg(0)? == arg(1)?)),
        "not" => Ok(json!(!arg(0)?.as_bool().unwrap_or(false))),
        "if" => Ok(if arg(0)?.as_bool().unwrap_or(false) {
            arg(1)?
        } else {
            arg(2)?
        }),
        "empty" => Ok(json!(match arg(0)? {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        })),
        "length" => Ok(json!(match arg(0)? {
            Value::String(s) => s.chars().count(),
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        })),
        "format" => {
            let mut s = text(&arg(0)?);
            for (i, a) in args.iter().skip(1).enumerate() {
                s = s.replace(&format!("{{{i}}}"), &text(a));
            }
            Ok(json!(s))
        }
        other => Err(TemplateError(format!(
            "The template function '{other}' is not supported by azure-sim."
        ))),
    }
}

/// Evaluates one string: an expression when it is `[...]` (`[[` escapes a literal `[`).
pub fn evaluate_str(s: &str, scope: &Scope) -> Result<Value, TemplateError> {
    if let Some(rest) = s.strip_prefix("[[") {
        return Ok(json!(format!("[{rest}")));
    }
    let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
        return Ok(json!(s));
    };
    let mut p = Parser {
        tokens: tokenize(inner)?,
        at: 0,
        scope,
    };
    let v = p.expr()?;
    if p.at != p.tokens.len() {
        return Err(TemplateError(format!(
            "unexpected trailing text in expression '{s}'"
        )));
    }
    Ok(v)
}

/// Evaluates every expression in a JSON value.
pub fn evaluate(v: &Value, scope: &Scope) -> Result<Value, TemplateError> {
    Ok(match v {
        Value::String(s) => evaluate_str(s, scope)?,
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| evaluate(x, scope))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, x) in o {
                out.insert(k.clone(), evaluate(x, scope)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        let mut s = Scope {
            subscription: "1a1a1a1a-1111-4111-8111-111111111111".into(),
            tenant: "t".into(),
            ..Scope::default()
        };
        s.parameters
            .insert("mspOfferName".into(), json!("xxxxxx shared image"));
        s.variables
            .insert("reg".into(), json!("[guid(parameters('mspOfferName'))]"));
        s
    }

    #[test]
    fn guid_is_a_v5_uuid_in_arms_namespace_over_the_dash_joined_arguments() {
        let g = arm_guid(&["a".into(), "b".into()]);
        assert_eq!(g, uuid::Uuid::new_v5(&GUID_NAMESPACE, b"a-b").to_string());
        assert_eq!(g.chars().nth(14), Some('5'));
    }

    #[test]
    fn the_lighthouse_template_expressions_evaluate() {
        let s = scope();
        let name = evaluate_str("[variables('reg')]", &s).unwrap();
        assert_eq!(name, json!(arm_guid(&["xxxxxx shared image".into()])));
        let id = evaluate_str(
            "[resourceId('Microsoft.ManagedServices/registrationDefinitions/', variables('reg'))]",
            &s,
        )
        .unwrap();
        assert_eq!(
            id,
            json!(format!(
                "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/providers/Microsoft.ManagedServices/registrationDefinitions/{}",
                name.as_str().unwrap()
            ))
        );
        assert_eq!(
            evaluate_str(
                "[concat('Managed by', ' ', parameters('mspOfferName'))]",
                &s
            )
            .unwrap(),
            json!("Managed by xxxxxx shared image")
        );
        assert_eq!(evaluate_str("[[literal]", &s).unwrap(), json!("[literal]"));
        assert_eq!(
            evaluate_str("[subscription().subscriptionId]", &s).unwrap(),
            json!("1a1a1a1a-1111-4111-8111-111111111111")
        );
    }

    #[test]
    fn an_unsupported_function_is_an_error() {
        assert!(evaluate_str("[uniqueString('x')]", &scope()).is_err());
    }
}
