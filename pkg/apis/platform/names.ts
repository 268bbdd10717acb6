// The platform group's name, for its kinds, controllers and the rules that read them.
export const platformGroupName = 'platform.tkestack.io';
