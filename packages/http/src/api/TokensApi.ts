import { AccessTokens, Ids } from "@messaging-api/domain"
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { InvalidRequest, NotFound, ServiceUnavailable } from "./ApiErrors.ts"
import { AdminOnly, Authentication } from "./Authentication.ts"
import { RequestDeadline } from "./RequestDeadline.ts"
import { RequestValidation } from "./RequestValidation.ts"

export const CreateToken = Schema.Struct({
  name: Schema.optionalKey(Schema.String),
  admin: Schema.optionalKey(Schema.Boolean.annotate({ description: "May use the /v1 admin API." })),
  installationIds: Schema.optionalKey(
    Schema.NullOr(Schema.Array(Ids.InstallationId).check(Schema.isMinLength(1))).annotate({
      description: "Limit the token to these installations' webhooks; absent or null: all. Not with admin."
    })
  )
}).annotate({ identifier: "CreateToken" })
export type CreateToken = typeof CreateToken.Type

export const AccessTokenView = AccessTokens.AccessToken.annotate({ identifier: "AccessToken" })

/** The token string appears here and nowhere else, ever. */
export const CreatedToken = Schema.Struct({
  ...AccessTokens.AccessToken.fields,
  token: Schema.String
}).annotate({ identifier: "CreatedToken" })
export type CreatedToken = typeof CreatedToken.Type

export class TokensApi extends HttpApiGroup.make("tokens")
  .add(
    HttpApiEndpoint.post("create", "/", {
      payload: CreateToken,
      success: CreatedToken.pipe(HttpApiSchema.status(201)),
      error: [InvalidRequest, ServiceUnavailable]
    }),
    HttpApiEndpoint.get("list", "/", {
      success: Schema.Array(AccessTokenView),
      error: ServiceUnavailable
    }),
    HttpApiEndpoint.delete("revoke", "/:id", {
      params: { id: Schema.String },
      success: AccessTokenView,
      error: [NotFound, ServiceUnavailable]
    })
  )
  .middleware(RequestValidation)
  .middleware(RequestDeadline)
  .middleware(AdminOnly)
  .middleware(Authentication)
  .prefix("/v1/tokens")
  .annotateMerge(OpenApi.annotations({ title: "Access tokens", description: "Admin tokens only." })) {}
