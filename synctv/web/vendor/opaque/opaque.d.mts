export * from "@serenity-kit/opaque";
