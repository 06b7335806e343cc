// The 2.x and 3.x clients ship no usable typings under their npm aliases; test/helpers/clients.ts types them.
declare module "sio-client-2";
declare module "sio-client-3";
