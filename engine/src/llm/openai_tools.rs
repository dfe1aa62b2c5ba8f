//! Tool calling over the OpenAI chat-completions wire format: the request that offers the
//! tools (`tools`, `tool_choice: auto`) and the first tool call of the answer. The arguments
//! are passed on as the raw text the model wrote; checking them is the caller's job.

use async_openai::error::OpenAIError;
use async_openai::types::{
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs,
    ChatCompletionTool, ChatCompletionToolChoiceOption, ChatCompletionToolType,
    CreateChatCompletionRequest, CreateChatCompletionRequestArgs, CreateChatCompletionResponse,
    FunctionObject,
};

use super::{ToolCall, ToolRequest};

/// Tool choices are deterministic: the same message should pick the same action.
const TEMPERATURE: f32 = 0.0;
const MAX_COMPLETION_TOKENS: u32 = 400;

/// The chat-completions request offering `request.tools`.
pub fn request(
    model: &str,
    request: &ToolRequest,
) -> Result<CreateChatCompletionRequest, OpenAIError> {
    let system = ChatCompletionRequestSystemMessageArgs::default()
        .content(request.system.clone())
        .build()?;
    let user = ChatCompletionRequestUserMessageArgs::default()
        .content(request.user.clone())
        .build()?;
    let tools: Vec<ChatCompletionTool> = request
        .tools
        .iter()
        .map(|t| ChatCompletionTool {
            r#type: ChatCompletionToolType::Function,
            function: FunctionObject {
                name: t.name.clone(),
                description: Some(t.description.clone()),
                parameters: Some(t.parameters.clone()),
                strict: None,
            },
        })
        .collect();
    CreateChatCompletionRequestArgs::default()
        .model(model.to_string())
        .messages(vec![system.into(), user.into()])
        .temperature(TEMPERATURE)
        .max_completion_tokens(MAX_COMPLETION_TOKENS)
        .tools(tools)
        .tool_choice(ChatCompletionToolChoiceOption::Auto)
        .build()
}

/// The first tool call of the answer, if the model made one.
pub fn first_call(response: CreateChatCompletionResponse) -> Option<ToolCall> {
    let call = response
        .choices
        .into_iter()
        .next()?
        .message
        .tool_calls?
        .into_iter()
        .next()?;
    Some(ToolCall {
        name: call.function.name,
        arguments: call.function.arguments,
    })
}
